"""LanceDB tables `documents`, `chunks` and `embeddings`, written one document set per commit."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import dagster as dg
import pyarrow as pa

if TYPE_CHECKING:
    import lancedb
    import numpy as np
    from lancedb.expr import Expr

from resources.lancedb_tables import SOURCE, LanceDBTables, connect_to
from resources.tables import (
    CHUNKS,
    DOCUMENTS,
    EMBEDDINGS,
    PRIMARY_KEY,
    ROW_KEYS,
    ROWS,
    TABLES,
    ChunkRow,
    DocumentRow,
    Row,
)

__all__ = ["CHUNKS", "DOCUMENTS", "EMBEDDINGS", "TABLES", "LanceDBStore", "StoredVersions", "Fingerprint"]


def with_primary_key(name: str, schema: pa.Schema) -> pa.Schema:
    """`schema` with the table's key column (`ROW_KEYS`) marked as its unenforced primary key."""
    key = ROW_KEYS[name]
    index = schema.get_field_index(key)
    field = schema.field(index)
    metadata = {**(field.metadata or {}), **PRIMARY_KEY}
    return schema.set(index, field.with_nullable(False).with_metadata(metadata))


def has_primary_key(schema: pa.Schema, name: str) -> bool:
    """Whether the table's key column is its unenforced primary key: declared at creation
    (`...primary-key: true`) or later by `set_unenforced_primary_key` (`...primary-key:position`)."""
    metadata = schema.field(ROW_KEYS[name]).metadata or {}
    return metadata.get(b"lance-schema:unenforced-primary-key") == b"true" or (
        b"lance-schema:unenforced-primary-key:position" in metadata
    )


class Fingerprint(NamedTuple):
    """What a stored document was parsed from, and by which parser (the `documents` columns of these names)."""

    size_bytes: int
    mtime: int
    """In microseconds since the epoch."""
    content_hash: str
    parser_version: str


def _fingerprints(docs: pa.Table) -> dict[str, Fingerprint]:
    if not docs.num_rows:
        return {}
    columns = [docs.column(name) for name in Fingerprint._fields]
    columns[1] = columns[1].cast(pa.int64())
    values = zip(*(column.to_pylist() for column in columns), strict=True)
    return dict(zip(docs.column("doc_id").to_pylist(), map(Fingerprint._make, values), strict=True))


@dataclass(frozen=True)
class StoredVersions:
    """What LanceDB holds per document, read column-wise: the file it was parsed from, the versions
    that produced its rows, and what status shows (chunk count, ingestion time, warnings)."""

    fingerprints: dict[str, Fingerprint] = field(default_factory=dict)
    chunkers: dict[str, frozenset[str]] = field(default_factory=dict)
    models: dict[str, frozenset[str]] = field(default_factory=dict)
    chunk_counts: dict[str, int] = field(default_factory=dict)
    ingested_at: dict[str, str] = field(default_factory=dict)
    """ISO time of the `documents` row."""
    warnings: dict[str, list[str]] = field(default_factory=dict)
    """Parser warnings of the documents that have some."""

    @property
    def documents(self) -> set[str]:
        """Every document with rows in any of the three tables (a purge cut short leaves some in one or two)."""
        return set(self.fingerprints) | set(self.chunkers) | set(self.models)


def doc_filter(doc_ids: Iterable[str]) -> Expr:
    """`doc_id IN (...)` as a typed expression: document names never become SQL text."""
    from lancedb.expr import col

    return col("doc_id").isin(sorted(set(doc_ids)))


def sql_string(value: str) -> str:
    """A SQL string literal for places that only take SQL text."""
    return "'" + value.replace("'", "''") + "'"


class CommitConflictError(RuntimeError):
    """A LanceDB commit kept losing to concurrent writers."""


RETRYABLE_COMMIT_ERRORS = (RuntimeError,)
"""What LanceDB 0.40 raises for a lost commit race of an operation without built-in retries
(`optimize`, `create_index`): a `RuntimeError` from lance (I/O errors are `OSError`, bad input
`ValueError`); `merge_insert` and `delete` retry conflicts themselves."""

T = TypeVar("T")


@dataclass(frozen=True)
class WriteOutcome:
    """What one commit did, as LanceDB reports it."""

    version: int
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    attempts: int = 1

    def as_metadata(self) -> dict[str, int]:
        return {
            "lancedb_table_version": self.version,
            "rows_inserted": self.inserted,
            "rows_updated": self.updated,
            "rows_deleted": self.deleted,
            "commit_attempts": self.attempts,
        }


class LanceDBStore(dg.ConfigurableResource, LanceDBTables):
    """The LanceDB database at `LANCEDB_URI` (a folder, or an object-store URI).

    Each table's key column (`ROW_KEYS`) is declared its unenforced primary key, so concurrent
    `merge_insert`s inserting the same new keys conflict instead of both succeeding and duplicating
    rows (lancedb#3377); on object storage (`s3://...`) that and lance's conditional-PUT commits are
    what keep writers on several machines correct. Writers on one machine also take an exclusive
    file lock on a local folder around each commit. Conflicting commits are retried with backoff.
    """

    uri: str = "data/lancedb"
    commit_retries: int = 6
    vector_index_min_rows: int = 100_000
    keep_versions_hours: float = 24.0

    def connect(self) -> lancedb.DBConnection:
        """A new connection for each call: a resource holds none (runs in other processes share its config)."""
        return connect_to(self.uri)

    def _table_for_write(self, name: str, schema: pa.Schema) -> lancedb.table.Table:
        db = self.connect()
        table = self.open_table(name, db)
        if table is None:
            table = db.create_table(name, schema=with_primary_key(name, schema), exist_ok=True)
        if not has_primary_key(table.schema, name):
            # A table created before the key was declared: declare it once (one commit).
            try:
                self._with_retries(lambda: table.set_unenforced_primary_key(ROW_KEYS[name]), f"primary key of {name}")
            except ValueError as exc:
                if "already set" not in str(exc):  # another writer declared it first: fine
                    raise
            table = db.open_table(name)
        missing = [f for f in schema if f.name not in table.schema.names and f.nullable]
        if missing:
            # A table written by an earlier version: new columns are added (one commit), empty or with the
            # value the row type gives the rows stored before them.
            fills = ROWS[name].fills()
            filled = {f.name: sql_string(fills[f.name]) for f in missing if f.name in fills}
            empty = [f for f in missing if f.name not in fills]
            if filled:
                self._with_retries(lambda: table.add_columns(filled), f"add columns to {name}")
            if empty:
                self._with_retries(lambda: table.add_columns(empty), f"add columns to {name}")
            table = db.open_table(name)
        return table

    def replace_documents_rows(self, name: str, rows: pa.Table, doc_ids: Iterable[str]) -> WriteOutcome | None:
        """Make `rows` the complete content of `name` for `doc_ids`, in one commit.

        Rows of those documents that `rows` no longer contains are deleted by the same
        `merge_insert`, so readers see either the old or the new set, never a mix. Returns what
        the commit did, or None when there was nothing to do.
        """
        doc_ids = sorted(set(doc_ids))
        if not doc_ids:
            return None
        with self.write_lock():
            table = self._table_for_write(name, rows.schema)
            rows = rows.select(table.schema.names).cast(table.schema) if rows.schema != table.schema else rows
            if rows.num_rows == 0:
                return WriteOutcome(table.delete(doc_filter(doc_ids)).version)
            result = (
                table.merge_insert(ROW_KEYS[name])
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(doc_filter(doc_ids))
                .execute(rows)
            )
        return WriteOutcome(
            result.version,
            result.num_inserted_rows,
            result.num_updated_rows,
            result.num_deleted_rows,
            result.num_attempts,
        )

    def delete_documents(self, doc_ids: Iterable[str]) -> dict[str, int]:
        """Delete every row of `doc_ids` from all three tables (one commit per table); rows deleted per table.

        `embeddings` goes first and `documents` last: a purge cut short after any commit never leaves
        a deleted document searchable, and its `documents` row, still there, makes the next listing
        purge it again.
        """
        doc_ids = sorted(set(doc_ids))
        deleted: dict[str, int] = {}
        if not doc_ids:
            return deleted
        db = self.connect()
        for name in reversed(TABLES):
            table = self.open_table(name, db)
            if table is None:
                continue
            with self.write_lock():
                before = table.count_rows()
                table.delete(doc_filter(doc_ids))
                deleted[name] = before - table.count_rows()
        return deleted

    def delete_source(self, source: str) -> dict[str, int]:
        """Delete every row of a source from all three tables (one commit per table, embeddings first)."""
        from lancedb.expr import col

        deleted: dict[str, int] = {}
        db = self.connect()
        for name in reversed(TABLES):
            table = self.open_table(name, db)
            if table is None or SOURCE not in table.schema.names:
                continue
            with self.write_lock():
                before = table.count_rows()
                table.delete(col(SOURCE) == source)
                deleted[name] = before - table.count_rows()
        return deleted

    def replace_rows(
        self, row_type: type[Row], rows: list[Row], doc_ids: Iterable[str], dimensions: int | None = None
    ) -> WriteOutcome | None:
        """Typed `replace_documents_rows`: `rows` become the complete content of `doc_ids` in their table."""
        return self.replace_documents_rows(row_type.TABLE, row_type.to_arrow(rows, dimensions), doc_ids)

    def stored_parses(self, content_hashes: Iterable[str], parser_version: str) -> list[DocumentRow]:
        """Documents whose content has one of these hashes, parsed by this parser version, whatever their name."""
        hashes = sorted(set(content_hashes))
        if not hashes:
            return []
        from lancedb.expr import col

        where = col("content_hash").isin(hashes) & (col("parser_version") == parser_version)
        return DocumentRow.from_arrow(self.read(DOCUMENTS, None, where))

    def documents(self, doc_ids: Iterable[str]) -> list[DocumentRow]:
        return DocumentRow.from_arrow(self.read(DOCUMENTS, None, doc_filter(doc_ids)))

    def chunks_by_document(self, doc_ids: Iterable[str]) -> dict[str, list[ChunkRow]]:
        """The stored chunks of these documents, in order; a document without chunks is absent."""
        by_doc: dict[str, list[ChunkRow]] = {}
        for chunk in ChunkRow.from_arrow(self.read(CHUNKS, None, doc_filter(doc_ids))):
            by_doc.setdefault(chunk.doc_id, []).append(chunk)
        return {doc_id: sorted(chunks, key=lambda c: c.seq) for doc_id, chunks in by_doc.items()}

    def document_ids(self, name: str, among: Iterable[str] | None = None, source: str | None = None) -> set[str]:
        """The documents with rows in table `name` (all, or those of `among`; of one source, or of all)."""
        rows = self.read(name, ["doc_id"], None if among is None else doc_filter(among), source)
        return set(rows.column("doc_id").unique().to_pylist()) if rows.num_rows else set()

    def cached_vectors(self, model_id: str, embedding_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors already stored by this model for these embedded texts (`ChunkRow.embedding_hash`)."""
        hashes = sorted(set(embedding_hashes))
        if not hashes:
            return {}
        from lancedb.expr import col

        where = col("text_hash").isin(hashes) & (col("model") == model_id)
        rows = self.read(EMBEDDINGS, ["text_hash", "vector"], where)
        if rows.num_rows == 0:
            return {}
        vectors = rows.column("vector").to_numpy(zero_copy_only=False)
        return dict(zip(rows.column("text_hash").to_pylist(), vectors, strict=True))

    def stored_documents(self, tables: Iterable[str] = TABLES, source: str | None = None) -> set[str]:
        """Every document (of one source, or of all) with rows in any of `tables` (a purge cut short leaves
        some in one or two)."""
        return set().union(*(self.document_ids(name, source=source) for name in tables))

    def documents_under(self, uri_prefix: str) -> set[str]:
        """The documents whose `source_uri` lies below `uri_prefix` (a folder's or a bucket prefix's URI)."""
        rows = self.read(DOCUMENTS, ["doc_id", "source_uri"])
        return (
            {
                doc_id
                for doc_id, uri in zip(
                    rows.column("doc_id").to_pylist(), rows.column("source_uri").to_pylist(), strict=True
                )
                if uri.startswith(uri_prefix)
            }
            if rows.num_rows
            else set()
        )

    def fingerprints(self, source: str | None = None) -> dict[str, Fingerprint]:
        """Size, mtime, content hash and parser version of every stored document (of one source, or of all)."""
        return _fingerprints(self.read(DOCUMENTS, ["doc_id", *Fingerprint._fields], source=source))

    def stored_versions(self, source: str | None = None) -> StoredVersions:
        """Per document (of one source, or of all): file fingerprint, the chunkers and models of its rows,
        chunk count, ingestion time and warnings (one column read per table)."""
        import pyarrow.compute as pc

        docs = self.read(DOCUMENTS, ["doc_id", *Fingerprint._fields, "ingested_at", "warnings"], source=source)
        ingested_at: dict[str, str] = {}
        warnings: dict[str, list[str]] = {}
        if docs.num_rows:
            when = pc.strftime(docs.column("ingested_at"), format="%Y-%m-%dT%H:%M:%S+00:00")
            ingested_at = dict(zip(docs.column("doc_id").to_pylist(), when.to_pylist(), strict=True))
            has_warnings = pc.fill_null(pc.greater(pc.list_value_length(docs.column("warnings")), 0), False)
            with_warnings = docs.filter(has_warnings)
            warnings = dict(
                zip(
                    with_warnings.column("doc_id").to_pylist(),
                    with_warnings.column("warnings").to_pylist(),
                    strict=True,
                )
            )
        chunkers, chunk_counts = self._values_by_document(CHUNKS, "chunker", source)
        models, _ = self._values_by_document(EMBEDDINGS, "model", source)
        return StoredVersions(_fingerprints(docs), chunkers, models, chunk_counts, ingested_at, warnings)

    def _values_by_document(
        self, name: str, column: str, source: str | None = None
    ) -> tuple[dict[str, frozenset[str]], dict[str, int]]:
        """The distinct values of `column` and the row count of each document in table `name`."""
        rows = self.read(name, ["doc_id", column], source=source)
        if rows.num_rows == 0:
            return {}, {}
        grouped = rows.group_by(["doc_id", column]).aggregate([("doc_id", "count")])
        values: dict[str, set[str]] = {}
        counts: dict[str, int] = {}
        for doc_id, value, count in zip(
            grouped.column("doc_id").to_pylist(),
            grouped.column(column).to_pylist(),
            grouped.column("doc_id_count").to_pylist(),
            strict=True,
        ):
            values.setdefault(doc_id, set()).add(value)
            counts[doc_id] = counts.get(doc_id, 0) + count
        return {doc_id: frozenset(v) for doc_id, v in values.items()}, counts

    def chunk_keys(self) -> list[tuple[str, str]]:
        """(chunk_id, doc_id) of every chunk."""
        rows = self.read(CHUNKS, ["chunk_id", "doc_id"])
        return list(zip(rows.column("chunk_id").to_pylist(), rows.column("doc_id").to_pylist(), strict=True))

    def vector_keys(self) -> list[tuple[str, str, str]]:
        """(chunk_id, doc_id, model) of every vector."""
        rows = self.read(EMBEDDINGS, ["chunk_id", "doc_id", "model"])
        return list(
            zip(
                rows.column("chunk_id").to_pylist(),
                rows.column("doc_id").to_pylist(),
                rows.column("model").to_pylist(),
                strict=True,
            )
        )

    def empty_documents(self) -> set[str]:
        """Documents with no text (scanned PDFs, empty files): their chunks are materialised with zero rows."""
        rows = self.read(DOCUMENTS, ["doc_id", "text"])
        if not rows.num_rows:
            return set()
        return {r["doc_id"] for r in rows.to_pylist() if not (r["text"] or "").strip()}

    def vector_batches(self, batch_size: int = 8192) -> tuple[int, Iterator[pa.RecordBatch]] | None:
        """(stored vector size, batches of `doc_id` and `vector`), or None before any embedding."""
        table = self.open_table(EMBEDDINGS)
        if table is None:
            return None
        reader = table.search().select(["doc_id", "vector"]).limit(None).to_batches(batch_size=batch_size)
        return table.schema.field("vector").type.list_size, iter(reader)

    def versions(self) -> dict[str, int]:
        db = self.connect()
        return {name: t.version for name in TABLES if (t := self.open_table(name, db)) is not None}

    def table_stats(self) -> dict[str, dict[str, int]]:
        """Rows, version, fragments and small fragments of each table: when maintenance is due."""
        db = self.connect()
        stats: dict[str, dict[str, int]] = {}
        for name in TABLES:
            table = self.open_table(name, db)
            if table is None:
                continue
            raw = table.stats()
            stats[name] = {
                "rows": raw["num_rows"],
                "version": table.version,
                "fragments": raw["fragment_stats"]["num_fragments"],
                "small_fragments": raw["fragment_stats"]["num_small_fragments"],
                "indices": raw["num_indices"],
            }
        return stats

    def ensure_indexes(self, vector_index_min_rows: int | None = None) -> list[str]:
        """Scalar indexes on the id columns (fast merge_insert and filters), full-text on the
        embeddings' text (hybrid search), and a vector index once `embeddings` is large enough
        for brute force to be slow. Returns the indexes created."""
        from lancedb.index import FTS, BTree

        db = self.connect()
        wanted = {
            DOCUMENTS: [("doc_id", BTree())],
            CHUNKS: [("doc_id", BTree()), ("chunk_id", BTree())],
            EMBEDDINGS: [("doc_id", BTree()), ("chunk_id", BTree()), ("text", FTS())],
        }
        if vector_index_min_rows is None:
            vector_index_min_rows = self.vector_index_min_rows
        created = []
        for name, indexes in wanted.items():
            table = self.open_table(name, db)
            if table is None or table.count_rows() == 0:
                continue
            present = {tuple(ix.columns) for ix in table.list_indices()}
            with self.write_lock():
                for column, config in indexes:
                    if (column,) not in present:
                        self._with_retries(
                            lambda t=table, c=column, x=config: t.create_index(c, config=x, replace=True),
                            f"index {name}.{column}",
                        )
                        created.append(f"{name}.{column}")
                if name == EMBEDDINGS and ("vector",) not in present and table.count_rows() >= vector_index_min_rows:
                    self._with_retries(
                        lambda t=table: t.create_index(
                            metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ"
                        ),
                        f"index {name}.vector",
                    )
                    created.append(f"{name}.vector")
        return created

    def optimize(self, keep_versions_hours: float | None = None) -> dict[str, dict[str, int]]:
        """Compact fragments, prune versions older than the window and fold new rows into indexes."""
        from datetime import timedelta

        if keep_versions_hours is None:
            keep_versions_hours = self.keep_versions_hours
        db = self.connect()
        for name in TABLES:
            table = self.open_table(name, db)
            if table is not None:
                with self.write_lock():
                    self._with_retries(
                        lambda t=table: t.optimize(cleanup_older_than=timedelta(hours=keep_versions_hours)),
                        f"optimize {name}",
                    )
        return self.table_stats()

    def _with_retries(self, write: Callable[[], T], what: str) -> T:
        """Retry a write that lost a commit race (see RETRYABLE_COMMIT_ERRORS) with jittered backoff."""
        delay = 0.2
        for attempt in range(1, self.commit_retries + 1):
            try:
                return write()
            except RETRYABLE_COMMIT_ERRORS as exc:
                if attempt == self.commit_retries:
                    raise CommitConflictError(
                        f"{what}: LanceDB commit conflict persisted after {attempt} attempts: {exc}"
                    ) from exc
                time.sleep(delay + random.uniform(0, delay))
                delay *= 2
        raise AssertionError("unreachable")
