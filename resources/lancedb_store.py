"""LanceDB tables `documents`, `chunks` and `embeddings`, written one document set per commit."""

from __future__ import annotations

import fcntl
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import dagster as dg
import pyarrow as pa

if TYPE_CHECKING:
    import lancedb
    from lancedb.expr import Expr

DOCUMENTS = "documents"
CHUNKS = "chunks"
EMBEDDINGS = "embeddings"
TABLES = (DOCUMENTS, CHUNKS, EMBEDDINGS)

_TS = pa.timestamp("us", tz="UTC")

PRIMARY_KEY = {b"lance-schema:unenforced-primary-key": b"true"}
"""Field metadata declaring a (non-nullable) column the table's unenforced primary key. Lance then
records the keys each `merge_insert` inserts, so of two concurrent commits inserting the same new
key the later one conflicts and is re-planned instead of duplicating the row (lancedb#3377,
lance#4585). That is what keeps writers on different machines correct on object storage."""

DOCUMENTS_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False, metadata=PRIMARY_KEY),
        pa.field("source_uri", pa.string()),
        pa.field("content_hash", pa.string()),
        pa.field("size_bytes", pa.int64()),
        pa.field("mtime", _TS),
        pa.field("format", pa.string()),
        pa.field("page_count", pa.int32()),
        pa.field("text", pa.large_string()),
        pa.field("page_offsets", pa.list_(pa.int64())),
        pa.field("parser_version", pa.string()),
        pa.field("ingested_at", _TS),
        pa.field("warnings", pa.list_(pa.string())),
        pa.field("title", pa.string()),
        pa.field("ocr_pages", pa.int32()),
    ]
)

CHUNKS_SCHEMA = pa.schema(
    [
        pa.field("chunk_id", pa.string(), nullable=False, metadata=PRIMARY_KEY),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("seq", pa.int32()),
        pa.field("text", pa.string()),
        pa.field("text_hash", pa.string()),
        pa.field("page_start", pa.int32()),
        pa.field("page_end", pa.int32()),
        pa.field("char_start", pa.int64()),
        pa.field("char_end", pa.int64()),
        pa.field("token_count", pa.int32()),
        pa.field("chunker", pa.string()),
        pa.field("section", pa.string()),
        pa.field("context", pa.string()),
    ]
)


def embeddings_schema(dimensions: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("chunk_id", pa.string(), nullable=False, metadata=PRIMARY_KEY),
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimensions)),
            pa.field("text", pa.string()),
            pa.field("text_hash", pa.string()),
            pa.field("page_start", pa.int32()),
            pa.field("page_end", pa.int32()),
            pa.field("model", pa.string()),
            pa.field("section", pa.string()),
        ]
    )


ROW_KEYS = {DOCUMENTS: "doc_id", CHUNKS: "chunk_id", EMBEDDINGS: "chunk_id"}


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


class LanceDBStore(dg.ConfigurableResource):
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

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        if self.is_object_store:
            yield
            return
        folder = Path(self.uri)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".ingest-write.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def connect(self) -> lancedb.DBConnection:
        import lancedb

        return lancedb.connect(self.uri)

    def open_table(self, name: str, db: lancedb.DBConnection | None = None) -> lancedb.table.Table | None:
        db = db or self.connect()
        try:
            return db.open_table(name)
        except (FileNotFoundError, ValueError):
            return None

    @property
    def is_object_store(self) -> bool:
        return "://" in self.uri

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
            # A table written by an earlier version: new columns are added empty (one commit).
            self._with_retries(lambda: table.add_columns(missing), f"add columns to {name}")
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
            rows = rows.cast(table.schema) if rows.schema != table.schema else rows
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
        """Delete every row of `doc_ids` from all three tables (one commit per table); rows deleted per table."""
        doc_ids = sorted(set(doc_ids))
        deleted: dict[str, int] = {}
        if not doc_ids:
            return deleted
        db = self.connect()
        for name in TABLES:
            table = self.open_table(name, db)
            if table is None:
                continue
            with self.write_lock():
                before = table.count_rows()
                table.delete(doc_filter(doc_ids))
                deleted[name] = before - table.count_rows()
        return deleted

    def read(self, name: str, columns: list[str] | None = None, where: Expr | None = None) -> pa.Table:
        """Rows of a table (all, or those matching `where`); an empty table if it does not exist."""
        table = self.open_table(name)
        if table is None:
            return pa.table({c: [] for c in (columns or [])})
        query = table.search()
        if where is not None:
            query = query.where(where)
        if columns:
            query = query.select(columns)
        return query.limit(None).to_arrow()

    def read_documents_rows(self, name: str, doc_ids: Iterable[str], columns: list[str] | None = None) -> pa.Table:
        return self.read(name, columns, doc_filter(doc_ids))

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

    def refresh_text_index(self) -> str:
        """Full-text search over `embeddings.text` right after ingestion: create the index if it is
        missing. Rows added since it was built are searched unindexed by LanceDB until the nightly
        `optimize()` folds them in. Returns what was done."""
        from lancedb.index import FTS

        table = self.open_table(EMBEDDINGS)
        if table is None or table.count_rows() == 0:
            return "no embeddings"
        index = next((ix for ix in table.list_indices() if ix.columns == ["text"]), None)
        if index is None:
            try:
                with self.write_lock():
                    table.create_index("text", config=FTS(), replace=False)
            except (RuntimeError, ValueError, OSError) as exc:
                # A concurrent writer may have created it first: search works unindexed meanwhile,
                # and the next run or the nightly maintenance creates it.
                table = self.open_table(EMBEDDINGS)
                if table is not None and any(ix.columns == ["text"] for ix in table.list_indices()):
                    return "created by a concurrent writer"
                return f"not created this time ({type(exc).__name__}: {exc})"
            return "created"
        stats = table.index_stats(index.name)
        return f"present ({stats.num_unindexed_rows} new rows searched unindexed until optimize)"

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
