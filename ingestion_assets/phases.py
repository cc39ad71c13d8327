"""The three phases of ingestion for a batch of documents, each ending in one LanceDB commit per table.

A document that fails a phase is recorded in `Batch.failures` and left out of the later phases;
the others carry on. The Dagster asset turns the outcome into per-partition events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ingestion_assets.chunking import Chunk
from ingestion_assets.embedding_pipeline import EmbeddingPipeline
from ingestion_assets.parsing import PARSER_VERSION, ParsedDocument, ParseError, ParseLimits, parse_bytes
from resources.lancedb_store import (
    CHUNKS,
    CHUNKS_SCHEMA,
    DOCUMENTS,
    DOCUMENTS_SCHEMA,
    EMBEDDINGS,
    embeddings_schema,
)

if TYPE_CHECKING:
    from resources.document_source import ContentHash, DocumentSource
    from resources.embedding_model import EmbeddingModel
    from resources.lancedb_store import LanceDBStore, WriteOutcome


@dataclass
class DocumentFailure:
    doc_id: str
    phase: str
    reason: str

    def __str__(self) -> str:
        return f"{self.doc_id!r} failed in phase '{self.phase}': {self.reason}"


@dataclass
class PhaseResult:
    """Per-document metadata of the documents that completed a phase."""

    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    write: WriteOutcome | None = None
    seconds: float = 0.0
    batch_metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Batch:
    doc_ids: list[str]
    failures: dict[str, DocumentFailure] = field(default_factory=dict)
    texts: dict[str, tuple[str, list[int], str | None]] = field(default_factory=dict)
    """doc_id -> (text, page offsets, title) of the documents whose text is known."""
    chunks: dict[str, list[Chunk]] = field(default_factory=dict)
    fingerprints: dict[str, dict[str, Any]] = field(default_factory=dict)

    def fail(self, doc_id: str, phase: str, reason: str) -> None:
        self.failures.setdefault(doc_id, DocumentFailure(doc_id, phase, reason))

    @property
    def remaining(self) -> list[str]:
        return [d for d in self.doc_ids if d not in self.failures]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _stored_parses(store: LanceDBStore, hashes: set[str]) -> list[dict[str, Any]]:
    """Stored parses of these contents by the current parser, whatever document they belong to."""
    if not hashes:
        return []
    from lancedb.expr import col

    where = col("content_hash").isin(sorted(hashes)) & (col("parser_version") == PARSER_VERSION)
    return store.read(DOCUMENTS, None, where).to_pylist()


def parse_phase(
    batch: Batch, source: DocumentSource, store: LanceDBStore, on_parsed: Callable[[str], None] | None = None
) -> PhaseResult:
    """Read and parse every document; one commit writes all new or changed rows to `documents`.

    Content already parsed by this parser version (the same document untouched, or a renamed or
    duplicate file) is reused instead of parsed again; an unchanged row is not rewritten.
    `on_parsed(doc_id)` is called as soon as a document's text is known (to chunk and embed it
    while the next one is parsed).
    """
    result = PhaseResult()
    started = time.perf_counter()
    hashed: dict[str, tuple[str, ContentHash]] = {}
    limits = ParseLimits(max_pages=source.max_pages, max_seconds=source.max_parse_seconds, ocr=source.ocr)
    for doc_id in batch.remaining:
        try:
            fingerprint = source.content_hash(doc_id)
            hashed[doc_id] = (fingerprint.sha256, fingerprint)
        except (ParseError, OSError, ValueError) as exc:
            batch.fail(doc_id, DOCUMENTS, str(exc) or type(exc).__name__)
            batch.fingerprints[doc_id] = source.stat_fingerprint(doc_id)
    stored = _stored_parses(store, {h for h, _ in hashed.values()})
    stored_by_doc = {row["doc_id"]: row for row in stored}
    stored_by_hash = {row["content_hash"]: row for row in stored}

    rows: list[dict[str, Any]] = []
    for doc_id in batch.remaining:
        content_hash, st = hashed[doc_id]
        mtime = _EPOCH + timedelta(microseconds=st.st_mtime_ns // 1000)
        batch.fingerprints[doc_id] = {
            "content_hash": content_hash,
            "size_bytes": st.st_size,
            "mtime_ns": st.st_mtime_ns,
        }
        t0 = time.perf_counter()
        own = stored_by_doc.get(doc_id)
        previous = own if own and own["content_hash"] == content_hash else stored_by_hash.get(content_hash)
        if previous is not None:
            doc = ParsedDocument(
                previous["format"],
                previous["text"] or "",
                list(previous["page_offsets"] or [0]),
                list(previous["warnings"] or []),
                title=previous.get("title") or "",
                ocr_pages=previous.get("ocr_pages") or 0,
            )
            reused_from = previous["doc_id"]
        else:
            try:
                doc = parse_bytes(doc_id, source.read(doc_id, content_hash), limits)
            except (ParseError, OSError, ValueError) as exc:
                batch.fail(doc_id, DOCUMENTS, str(exc) or type(exc).__name__)
                continue
            reused_from = None
        batch.texts[doc_id] = (doc.text, doc.page_offsets, doc.title or None)
        unchanged = (
            reused_from == doc_id and own is not None and own["mtime"] == mtime and own["size_bytes"] == st.st_size
        )
        if not unchanged:
            rows.append(
                {
                    "doc_id": doc_id,
                    "source_uri": source.uri_for(doc_id),
                    "content_hash": content_hash,
                    "size_bytes": st.st_size,
                    "mtime": mtime,
                    "format": doc.format,
                    "page_count": doc.page_count,
                    "text": doc.text,
                    "page_offsets": doc.page_offsets,
                    "parser_version": PARSER_VERSION,
                    "ingested_at": _now(),
                    "warnings": doc.warnings,
                    "title": doc.title,
                    "ocr_pages": doc.ocr_pages,
                }
            )
        result.metadata[doc_id] = {
            "format": doc.format,
            "pages": doc.page_count,
            "chars": len(doc.text),
            "parse_seconds": round(time.perf_counter() - t0, 4),
            "content_hash": content_hash,
            "size_bytes": st.st_size,
            **({"reused_parse_of": reused_from} if reused_from else {}),
            "source": source.display(doc_id),
            "warnings": doc.warnings,
        }
        if on_parsed is not None:
            on_parsed(doc_id)
    if rows:
        table = pa.Table.from_pylist(rows, schema=DOCUMENTS_SCHEMA)
        result.write = store.replace_documents_rows(DOCUMENTS, table, [r["doc_id"] for r in rows])
    result.seconds = time.perf_counter() - started
    return result


def _load_texts(batch: Batch, store: LanceDBStore) -> None:
    missing = [d for d in batch.remaining if d not in batch.texts]
    if not missing:
        return
    stored = store.read_documents_rows(DOCUMENTS, missing).to_pylist()
    for row in stored:
        batch.texts[row["doc_id"]] = (row["text"] or "", list(row["page_offsets"] or [0]), row.get("title") or None)
        batch.fingerprints.setdefault(row["doc_id"], {})["content_hash"] = row["content_hash"]
    for doc_id in missing:
        if doc_id not in batch.texts:
            batch.fail(doc_id, CHUNKS, "no parsed text in LanceDB; materialise `documents` first")


class ChunkPhase:
    """Splits documents as they become available; `commit` replaces all their chunks in one commit."""

    def __init__(
        self, batch: Batch, model: EmbeddingModel, chunker_id: str, then: Callable[[list[Chunk]], None] | None = None
    ) -> None:
        self.batch = batch
        self.chunker = model.chunker()
        self.chunker_id = chunker_id
        self.then = then
        self.result = PhaseResult()
        self.rows: list[dict[str, Any]] = []
        self.done: list[str] = []

    def add(self, doc_id: str) -> None:
        started = time.perf_counter()
        text, page_offsets, title = self.batch.texts[doc_id]
        try:
            chunks = self.chunker.split(doc_id, text, page_offsets, title=title)
        except Exception as exc:
            self.batch.fail(doc_id, CHUNKS, f"splitting failed: {exc}")
            return
        self.batch.chunks[doc_id] = chunks
        self.done.append(doc_id)
        self.rows.extend({**chunk.__dict__, "doc_id": doc_id, "chunker": self.chunker_id} for chunk in chunks)
        tokens = [c.token_count for c in chunks]
        self.result.metadata[doc_id] = {
            "chunks": len(chunks),
            "tokens_total": sum(tokens),
            "tokens_max": max(tokens, default=0),
            "tokens_mean": round(sum(tokens) / len(tokens), 1) if tokens else 0.0,
            "preview": _preview(chunks),
        }
        self.result.seconds += time.perf_counter() - started
        if self.then is not None:
            self.then(chunks)

    def commit(self, store: LanceDBStore) -> PhaseResult:
        """Chunk the documents not parsed in this run (from their stored text), then write."""
        started = time.perf_counter()
        _load_texts(self.batch, store)
        for doc_id in self.batch.remaining:
            if doc_id not in self.result.metadata:
                self.add(doc_id)
        if self.done:
            table = pa.Table.from_pylist(self.rows, schema=CHUNKS_SCHEMA)
            self.result.write = store.replace_documents_rows(CHUNKS, table, self.done)
        self.result.seconds += time.perf_counter() - started
        return self.result


def _preview(chunks: list[Chunk], limit: int = 3) -> str:
    lines = ["| seq | pages | tokens | text |", "|---|---|---|---|"]
    for c in chunks[:limit]:
        snippet = " ".join(c.text.split())[:160].replace("`", "'").replace("|", "\\|")
        lines.append(f"| {c.seq} | {c.page_start}-{c.page_end} | {c.token_count} | `{snippet}` |")
    if not chunks:
        lines.append("| - | - | 0 | (no text) |")
    return "\n".join(lines)


def _load_chunks(batch: Batch, store: LanceDBStore) -> None:
    missing = [d for d in batch.remaining if d not in batch.chunks]
    if not missing:
        return
    stored = store.read_documents_rows(CHUNKS, missing).to_pylist()
    by_doc: dict[str, list[Chunk]] = {}
    for row in stored:
        fields = {k: row[k] for k in Chunk.__dataclass_fields__ if row.get(k) is not None}
        by_doc.setdefault(row["doc_id"], []).append(Chunk(**fields))
    documents = store.read_documents_rows(DOCUMENTS, missing, ["doc_id"]).column("doc_id").to_pylist()
    for doc_id in missing:
        if doc_id in by_doc or doc_id in documents:
            batch.chunks[doc_id] = sorted(by_doc.get(doc_id, []), key=lambda c: c.seq)
        else:
            batch.fail(doc_id, EMBEDDINGS, "no chunks in LanceDB; materialise `chunks` first")


def embed_phase(batch: Batch, store: LanceDBStore, model: EmbeddingModel, pipeline: EmbeddingPipeline) -> PhaseResult:
    """Wait for the vectors of every chunk of the batch (submitting those loaded from LanceDB),
    then replace all their embeddings in one commit."""
    result = PhaseResult()
    started = time.perf_counter()
    submitted = set(batch.chunks)
    _load_chunks(batch, store)
    docs = batch.remaining
    for d in docs:
        if d not in submitted:
            pipeline.submit(batch.chunks[d])
    vectors = pipeline.finish()
    dimensions = len(next(iter(vectors.values()))) if vectors else model.dimensions
    rows = [
        {
            "chunk_id": c.chunk_id,
            "doc_id": d,
            "vector": vectors[c.embedding_hash],
            "text": c.text,
            "text_hash": c.embedding_hash,
            "page_start": c.page_start,
            "page_end": c.page_end,
            "model": model.model_id,
            "section": c.section,
        }
        for d in docs
        for c in batch.chunks[d]
    ]
    if docs:
        table = pa.Table.from_pylist(rows, schema=embeddings_schema(dimensions))
        result.write = store.replace_documents_rows(EMBEDDINGS, table, docs)
    fresh = pipeline.embedded
    runtime = {"backend": pipeline.backend, "precision": pipeline.precision} if pipeline.backend else {}
    for d in docs:
        result.metadata[d] = {
            "vectors": len(batch.chunks[d]),
            "dimensions": dimensions,
            "embedded": sum(1 for c in batch.chunks[d] if c.embedding_hash in fresh),
            "reused": sum(1 for c in batch.chunks[d] if c.embedding_hash not in fresh),
            "model": model.model_id,
            **runtime,
        }
    result.seconds = time.perf_counter() - started
    embedded = len(fresh)
    result.batch_metadata = {
        "batch_documents": len(docs),
        "batch_embedded_chunks": embedded,
        "model_load_seconds": round(pipeline.load_seconds, 3),
        "embed_seconds": round(pipeline.encode_seconds, 3),
        **(
            {"chunks_per_second": round(embedded / pipeline.encode_seconds, 1)}
            if embedded and pipeline.encode_seconds
            else {}
        ),
        **({"backend_reason": pipeline.backend_reason} if pipeline.backend else {}),
    }
    return result
