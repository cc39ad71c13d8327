"""A batch of documents through parse -> chunk -> embed, streamed, each phase ending in one LanceDB commit per table.

Each document's text is chunked as soon as it is parsed, and its chunks are embedded on a
background thread while the next document is parsed. A document that fails a phase is recorded in
`BatchIngestion.failures` and left out of the later phases; the others carry on. `run` yields one
`PhaseResult` per selected phase, which the Dagster asset turns into per-partition events.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ingestion_assets.embedding_pipeline import EmbeddingPipeline
from ingestion_assets.parsing import PARSER_VERSION, ParsedDocument, ParseError, ParseLimits, parse_bytes
from resources.tables import CHUNKS, DOCUMENTS, EMBEDDINGS, ChunkRow, DocumentRow, EmbeddingRow

if TYPE_CHECKING:
    from ingestion_assets.chunking import TokenChunker
    from resources.document_source import DocumentSource
    from resources.embedding_model import EmbeddingModel
    from resources.lancedb_store import LanceDBStore, WriteOutcome
    from resources.sources.base import ContentHash

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class DocumentFailure:
    doc_id: str
    phase: str
    reason: str

    def __str__(self) -> str:
        return f"{self.doc_id!r} failed in phase '{self.phase}': {self.reason}"


@dataclass
class PhaseResult:
    """What one phase did: metadata of each document that completed it, and the commit that stored them."""

    phase: str
    """The phase, which is also the name of its LanceDB table."""
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    write: WriteOutcome | None = None
    seconds: float = 0.0
    batch_metadata: dict[str, Any] = field(default_factory=dict)


def _ignore(_: object) -> None:
    """The next phase of a phase that is not selected."""


class BatchIngestion:
    """The documents of one ranged run through the selected phases, sharing one model load."""

    def __init__(
        self,
        doc_ids: Iterable[str],
        *,
        source: DocumentSource,
        limits: ParseLimits,
        make_chunker: Callable[[], TokenChunker],
        store: LanceDBStore,
        embedder: EmbeddingModel,
        log: Callable[[str], None],
    ) -> None:
        self.doc_ids = list(doc_ids)
        self.source = source
        self.limits = limits
        self.make_chunker = make_chunker
        self.store = store
        self.embedder = embedder
        self.log = log
        self.failures: dict[str, DocumentFailure] = {}
        self.file_metadata: dict[str, dict[str, Any]] = {}
        """doc_id -> content hash, size and mtime of the file read (what a failure observation records)."""
        self.parsed: dict[str, ParsedDocument] = {}
        self.chunks: dict[str, list[ChunkRow]] = {}

    @property
    def remaining(self) -> list[str]:
        """The documents that have not failed a phase."""
        return [d for d in self.doc_ids if d not in self.failures]

    def fail(self, doc_id: str, phase: str, reason: str) -> None:
        self.failures.setdefault(doc_id, DocumentFailure(doc_id, phase, reason))

    def run(self, phases: Collection[str]) -> Iterator[PhaseResult]:
        """Run the selected phases (`documents`, `chunks`, `embeddings`), yielding each one's result in order."""
        embedding = EmbeddingPipeline(self.store, self.embedder, self.log) if EMBEDDINGS in phases else None
        chunking = _Chunking(self, then=embedding.submit if embedding is not None else _ignore)
        if DOCUMENTS in phases:
            yield self._parse(then=chunking.add if CHUNKS in phases else _ignore)
        if CHUNKS in phases:
            yield chunking.commit()
        if embedding is not None:
            if self.remaining:
                yield self._embed(embedding)
            else:
                embedding.finish()

    def data_version(self, phase: str, doc_id: str) -> str:
        """What a phase produced for a document: content hash, chunk ids, or chunk ids and model."""
        if phase == DOCUMENTS:
            return self.file_metadata[doc_id]["content_hash"][:24]
        ids = "\n".join(c.chunk_id for c in self.chunks.get(doc_id, []))
        salt = self.embedder.model_id if phase == EMBEDDINGS else ""
        return hashlib.sha256(f"{salt}\n{ids}".encode()).hexdigest()[:24]

    # ---- documents -------------------------------------------------------------------------------

    def _parse(self, then: Callable[[str], None]) -> PhaseResult:
        """Read and parse every document; one commit writes all new or changed rows to `documents`.

        Content already parsed by this parser version (the same document untouched, or a renamed
        or duplicate file) is reused instead of parsed again; an unchanged row is not rewritten.
        `then(doc_id)` is called as soon as a document's text is known.
        """
        result = PhaseResult(DOCUMENTS)
        started = time.perf_counter()
        hashed: dict[str, ContentHash] = {}
        for doc_id in self.remaining:
            try:
                hashed[doc_id] = self.source.content_hash(doc_id)
            except (ParseError, OSError, ValueError) as exc:
                self.fail(doc_id, DOCUMENTS, str(exc) or type(exc).__name__)
                self.file_metadata[doc_id] = self.source.stat_fingerprint(doc_id)
        stored = self.store.stored_parses({h.sha256 for h in hashed.values()}, PARSER_VERSION)
        stored_by_doc = {row.doc_id: row for row in stored}
        stored_by_hash = {row.content_hash: row for row in stored}

        rows: list[DocumentRow] = []
        for doc_id in self.remaining:
            fingerprint = hashed[doc_id]
            content_hash = fingerprint.sha256
            mtime = _EPOCH + timedelta(microseconds=fingerprint.mtime_ns // 1000)
            self.file_metadata[doc_id] = {
                "content_hash": content_hash,
                "size_bytes": fingerprint.size_bytes,
                "mtime_ns": fingerprint.mtime_ns,
            }
            t0 = time.perf_counter()
            own = stored_by_doc.get(doc_id)
            previous = own if own and own.content_hash == content_hash else stored_by_hash.get(content_hash)
            if previous is not None:
                doc = ParsedDocument.from_row(previous)
                reused_from = previous.doc_id
            else:
                try:
                    doc = parse_bytes(
                        self.source.parse_name(doc_id), self.source.read(doc_id, content_hash), self.limits
                    )
                except (ParseError, OSError, ValueError) as exc:
                    self.fail(doc_id, DOCUMENTS, str(exc) or type(exc).__name__)
                    continue
                reused_from = None
            self.parsed[doc_id] = doc
            unchanged = (
                reused_from == doc_id
                and own is not None
                and own.mtime == mtime
                and own.size_bytes == fingerprint.size_bytes
            )
            if not unchanged:
                source_uri = self.source.uri_for(doc_id)
                rows.append(
                    doc.row(
                        doc_id,
                        source_uri,
                        content_hash,
                        fingerprint.size_bytes,
                        mtime,
                        datetime.now(UTC),
                        source=self.source.name,
                    )
                )
            result.metadata[doc_id] = {
                "format": doc.format,
                "pages": doc.page_count,
                "chars": len(doc.text),
                "parse_seconds": round(time.perf_counter() - t0, 4),
                "content_hash": content_hash,
                "size_bytes": fingerprint.size_bytes,
                **({"reused_parse_of": reused_from} if reused_from else {}),
                "source": self.source.display(doc_id),
                **({"title": doc.title} if doc.title else {}),
                **({"document_metadata": doc.metadata} if doc.metadata else {}),
                "warnings": doc.warnings,
            }
            then(doc_id)
        if rows:
            result.write = self.store.replace_rows(DocumentRow, rows, [r.doc_id for r in rows])
        result.seconds = time.perf_counter() - started
        return result

    def load_parsed(self) -> None:
        """The stored text of the documents not parsed in this run; without one a document fails `chunks`."""
        missing = [d for d in self.remaining if d not in self.parsed]
        if not missing:
            return
        for row in self.store.documents(missing):
            self.parsed[row.doc_id] = ParsedDocument.from_row(row)
            self.file_metadata.setdefault(row.doc_id, {})["content_hash"] = row.content_hash
        for doc_id in missing:
            if doc_id not in self.parsed:
                self.fail(doc_id, CHUNKS, "no parsed text in LanceDB; materialise `documents` first")

    # ---- embeddings ------------------------------------------------------------------------------

    def _load_chunks(self) -> None:
        """The stored chunks of the documents not chunked in this run; without them (and without
        a stored parse) a document fails `embeddings`."""
        missing = [d for d in self.remaining if d not in self.chunks]
        if not missing:
            return
        stored = self.store.chunks_by_document(missing)
        documents = self.store.document_ids(DOCUMENTS, missing)
        for doc_id in missing:
            if doc_id in stored or doc_id in documents:
                self.chunks[doc_id] = stored.get(doc_id, [])
            else:
                self.fail(doc_id, EMBEDDINGS, "no chunks in LanceDB; materialise `chunks` first")

    def _embed(self, pipeline: EmbeddingPipeline) -> PhaseResult:
        """Wait for the vectors of every chunk of the batch (submitting those loaded from LanceDB),
        then replace all their embeddings in one commit and make sure full-text search covers them."""
        result = PhaseResult(EMBEDDINGS)
        started = time.perf_counter()
        submitted = set(self.chunks)
        self._load_chunks()
        docs = self.remaining
        for doc_id in docs:
            if doc_id not in submitted:
                pipeline.submit(self.chunks[doc_id])
        vectors = pipeline.finish()
        model = self.embedder.model_id
        dimensions = len(next(iter(vectors.values()))) if vectors else self.embedder.dimensions
        rows = [EmbeddingRow.of(c, vectors[c.embedding_hash], model) for d in docs for c in self.chunks[d]]
        if docs:
            result.write = self.store.replace_rows(EmbeddingRow, rows, docs, dimensions)
        fresh = pipeline.embedded
        runtime = {"backend": pipeline.backend, "precision": pipeline.precision} if pipeline.backend else {}
        for doc_id in docs:
            chunks = self.chunks[doc_id]
            embedded = sum(1 for c in chunks if c.embedding_hash in fresh)
            result.metadata[doc_id] = {
                "vectors": len(chunks),
                "dimensions": dimensions,
                "embedded": embedded,
                "reused": len(chunks) - embedded,
                "model": model,
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
            "full_text_index": self.store.refresh_text_index(),
        }
        return result


class _Chunking:
    """The `chunks` phase: splits documents as their text becomes known; `commit` replaces all
    their chunks in one commit."""

    def __init__(self, batch: BatchIngestion, then: Callable[[list[ChunkRow]], None]) -> None:
        self.batch = batch
        self.then = then
        self.result = PhaseResult(CHUNKS)
        self.done: list[str] = []

    @cached_property
    def chunker(self) -> TokenChunker:
        return self.batch.make_chunker()

    def add(self, doc_id: str) -> None:
        started = time.perf_counter()
        doc = self.batch.parsed[doc_id]
        chunker = self.chunker
        try:
            source = self.batch.source
            chunks = chunker.split(
                doc_id,
                doc.text,
                doc.page_offsets,
                title=doc.title or None,
                name=source.parse_name(doc_id),
                source=source.name,
            )
        except Exception as exc:
            self.batch.fail(doc_id, CHUNKS, f"splitting failed: {exc}")
            return
        self.batch.chunks[doc_id] = chunks
        self.done.append(doc_id)
        tokens = [c.token_count for c in chunks]
        self.result.metadata[doc_id] = {
            "chunks": len(chunks),
            "tokens_total": sum(tokens),
            "tokens_max": max(tokens, default=0),
            "tokens_mean": round(sum(tokens) / len(tokens), 1) if tokens else 0.0,
            "preview": _preview(chunks),
        }
        self.result.seconds += time.perf_counter() - started
        self.then(chunks)

    def commit(self) -> PhaseResult:
        """Chunk the documents not parsed in this run (from their stored text), then write."""
        started = time.perf_counter()
        self.batch.load_parsed()
        for doc_id in self.batch.remaining:
            if doc_id not in self.result.metadata:
                self.add(doc_id)
        if self.done:
            rows = [c for d in self.done for c in self.batch.chunks[d]]
            self.result.write = self.batch.store.replace_rows(ChunkRow, rows, self.done)
        self.result.seconds += time.perf_counter() - started
        return self.result


def _preview(chunks: list[ChunkRow], limit: int = 3) -> str:
    lines = ["| seq | pages | tokens | text |", "|---|---|---|---|"]
    for c in chunks[:limit]:
        snippet = " ".join(c.text.split())[:160].replace("`", "'").replace("|", "\\|")
        lines.append(f"| {c.seq} | {c.page_start}-{c.page_end} | {c.token_count} | `{snippet}` |")
    if not chunks:
        lines.append("| - | - | 0 | (no text) |")
    return "\n".join(lines)
