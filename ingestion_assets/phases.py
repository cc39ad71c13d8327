"""The three phases of ingestion for a batch of documents, each ending in one LanceDB commit per table.

A document that fails a phase is recorded in `Batch.failures` and left out of the later phases;
the others carry on. The Dagster asset turns the outcome into per-partition events.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ingestion_assets.chunking import Chunk
from ingestion_assets.parsing import PARSER_VERSION, ParsedDocument, ParseError, ParseLimits, parse_bytes
from resources.document_source import hash_file, read_exact
from resources.lancedb_store import (
    CHUNKS,
    CHUNKS_SCHEMA,
    DOCUMENTS,
    DOCUMENTS_SCHEMA,
    EMBEDDINGS,
    embeddings_schema,
)

if TYPE_CHECKING:
    from resources.document_source import DocumentSource
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
    texts: dict[str, tuple[str, list[int]]] = field(default_factory=dict)
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


def parse_phase(batch: Batch, source: DocumentSource, store: LanceDBStore) -> PhaseResult:
    """Read and parse every document; one commit writes all new or changed rows to `documents`.

    Content already parsed by this parser version (the same document untouched, or a renamed or
    duplicate file) is reused instead of parsed again; an unchanged row is not rewritten.
    """
    result = PhaseResult()
    started = time.perf_counter()
    hashed: dict[str, tuple[str, os.stat_result]] = {}
    limits = ParseLimits(max_pages=source.max_pages, max_seconds=source.max_parse_seconds)
    for doc_id in batch.remaining:
        try:
            path = source.path_for(doc_id)
            size = os.stat(path, follow_symlinks=False).st_size
            if size > source.max_file_mb * 1024 * 1024:
                raise ParseError(
                    f"too large: {size / 2**20:.0f} MB, the limit is {source.max_file_mb:g} MB (INGEST_MAX_FILE_MB)"
                )
            hashed[doc_id] = hash_file(path)
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
            )
            reused_from = previous["doc_id"]
        else:
            try:
                doc = parse_bytes(doc_id, read_exact(source.path_for(doc_id), content_hash), limits)
            except (ParseError, OSError, ValueError) as exc:
                batch.fail(doc_id, DOCUMENTS, str(exc) or type(exc).__name__)
                continue
            reused_from = None
        batch.texts[doc_id] = (doc.text, doc.page_offsets)
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
            "source": str(source.root.joinpath(*doc_id.split("/"))),
            "warnings": doc.warnings,
        }
    if rows:
        table = pa.Table.from_pylist(rows, schema=DOCUMENTS_SCHEMA)
        result.write = store.replace_documents_rows(DOCUMENTS, table, [r["doc_id"] for r in rows])
    result.seconds = time.perf_counter() - started
    return result


def _load_texts(batch: Batch, store: LanceDBStore) -> None:
    missing = [d for d in batch.remaining if d not in batch.texts]
    if not missing:
        return
    stored = store.read_documents_rows(
        DOCUMENTS, missing, ["doc_id", "text", "page_offsets", "content_hash"]
    ).to_pylist()
    for row in stored:
        batch.texts[row["doc_id"]] = (row["text"] or "", list(row["page_offsets"] or [0]))
        batch.fingerprints.setdefault(row["doc_id"], {})["content_hash"] = row["content_hash"]
    for doc_id in missing:
        if doc_id not in batch.texts:
            batch.fail(doc_id, CHUNKS, "no parsed text in LanceDB; materialise `documents` first")


def chunk_phase(batch: Batch, store: LanceDBStore, model: EmbeddingModel, chunker_id: str) -> PhaseResult:
    """Split every document; one commit replaces all their chunks (stale ones included)."""
    result = PhaseResult()
    started = time.perf_counter()
    _load_texts(batch, store)
    chunker = model.chunker()
    rows: list[dict[str, Any]] = []
    done: list[str] = []
    for doc_id in batch.remaining:
        text, page_offsets = batch.texts[doc_id]
        try:
            chunks = chunker.split(doc_id, text, page_offsets)
        except Exception as exc:
            batch.fail(doc_id, CHUNKS, f"splitting failed: {exc}")
            continue
        batch.chunks[doc_id] = chunks
        done.append(doc_id)
        rows.extend({**chunk.__dict__, "doc_id": doc_id, "chunker": chunker_id} for chunk in chunks)
        tokens = [c.token_count for c in chunks]
        result.metadata[doc_id] = {
            "chunks": len(chunks),
            "tokens_total": sum(tokens),
            "tokens_max": max(tokens, default=0),
            "tokens_mean": round(sum(tokens) / len(tokens), 1) if tokens else 0.0,
            "preview": _preview(chunks),
        }
    if done:
        table = pa.Table.from_pylist(rows, schema=CHUNKS_SCHEMA)
        result.write = store.replace_documents_rows(CHUNKS, table, done)
    result.seconds = time.perf_counter() - started
    return result


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
        fields = {k: row[k] for k in Chunk.__dataclass_fields__}
        by_doc.setdefault(row["doc_id"], []).append(Chunk(**fields))
    documents = store.read_documents_rows(DOCUMENTS, missing, ["doc_id"]).column("doc_id").to_pylist()
    for doc_id in missing:
        if doc_id in by_doc or doc_id in documents:
            batch.chunks[doc_id] = sorted(by_doc.get(doc_id, []), key=lambda c: c.seq)
        else:
            batch.fail(doc_id, EMBEDDINGS, "no chunks in LanceDB; materialise `chunks` first")


def embed_phase(batch: Batch, store: LanceDBStore, model: EmbeddingModel) -> PhaseResult:
    """Embed the chunks of all documents together; vectors already computed for the same text
    and model are reused. One commit replaces all their embeddings."""
    result = PhaseResult()
    started = time.perf_counter()
    _load_chunks(batch, store)
    docs = batch.remaining
    chunks = [c for d in docs for c in batch.chunks[d]]
    cached = _cached_vectors(store, model.model_id, {c.text_hash for c in chunks})
    todo = sorted({c.text_hash: c.text for c in chunks if c.text_hash not in cached}.items())
    load_seconds = 0.0
    if todo:
        t0 = time.perf_counter()
        model.load()
        load_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    if todo:
        vectors = model.encode([text for _, text in todo])
        cached.update({h: v for (h, _), v in zip(todo, vectors, strict=True)})
    embed_seconds = time.perf_counter() - t0
    dimensions = len(next(iter(cached.values()))) if cached else 0
    rows = [
        {
            "chunk_id": c.chunk_id,
            "doc_id": d,
            "vector": cached[c.text_hash],
            "text": c.text,
            "text_hash": c.text_hash,
            "page_start": c.page_start,
            "page_end": c.page_end,
            "model": model.model_id,
        }
        for d in docs
        for c in batch.chunks[d]
    ]
    if docs:
        schema = embeddings_schema(dimensions or model.dimensions)
        table = pa.Table.from_pylist(rows, schema=schema)
        result.write = store.replace_documents_rows(EMBEDDINGS, table, docs)
    fresh = {h for h, _ in todo}
    for d in docs:
        n = len(batch.chunks[d])
        result.metadata[d] = {
            "vectors": n,
            "dimensions": dimensions,
            "embedded": sum(1 for c in batch.chunks[d] if c.text_hash in fresh),
            "reused": sum(1 for c in batch.chunks[d] if c.text_hash not in fresh),
            "model": model.model_id,
        }
    result.seconds = time.perf_counter() - started
    result.batch_metadata = {
        "batch_documents": len(docs),
        "batch_embedded_chunks": len(todo),
        "model_load_seconds": round(load_seconds, 3),
        "embed_seconds": round(embed_seconds, 3),
        **({"chunks_per_second": round(len(todo) / embed_seconds, 1)} if todo and embed_seconds else {}),
    }
    return result


def _cached_vectors(store: LanceDBStore, model_id: str, hashes: set[str]) -> dict[str, Any]:
    """Vectors already stored for these chunk texts by this model (an embedding cache for free)."""
    if not hashes:
        return {}
    from lancedb.expr import col

    where = col("text_hash").isin(sorted(hashes)) & (col("model") == model_id)
    rows = store.read(EMBEDDINGS, ["text_hash", "vector"], where)
    if rows.num_rows == 0:
        return {}
    return dict(
        zip(rows.column("text_hash").to_pylist(), rows.column("vector").to_numpy(zero_copy_only=False), strict=True)
    )
