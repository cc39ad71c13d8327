"""LanceDB tables `documents`, `chunks` and `embeddings`, written one document set per commit."""

from __future__ import annotations

import fcntl
import random
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import pyarrow as pa

from resources.settings import from_env

if TYPE_CHECKING:
    import lancedb
    from lancedb.expr import Expr

DOCUMENTS = "documents"
CHUNKS = "chunks"
EMBEDDINGS = "embeddings"
TABLES = (DOCUMENTS, CHUNKS, EMBEDDINGS)

_TS = pa.timestamp("us", tz="UTC")

DOCUMENTS_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
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
    ]
)

CHUNKS_SCHEMA = pa.schema(
    [
        pa.field("chunk_id", pa.string(), nullable=False),
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
    ]
)


def embeddings_schema(dimensions: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("chunk_id", pa.string(), nullable=False),
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimensions)),
            pa.field("text", pa.string()),
            pa.field("text_hash", pa.string()),
            pa.field("page_start", pa.int32()),
            pa.field("page_end", pa.int32()),
            pa.field("model", pa.string()),
        ]
    )


ROW_KEYS = {DOCUMENTS: "doc_id", CHUNKS: "chunk_id", EMBEDDINGS: "chunk_id"}


def doc_filter(doc_ids: Iterable[str]) -> Expr:
    """`doc_id IN (...)` as a typed expression: document names never become SQL text."""
    from lancedb.expr import col

    return col("doc_id").isin(sorted(set(doc_ids)))


def sql_string(value: str) -> str:
    """A SQL string literal for places that only take SQL text."""
    return "'" + value.replace("'", "''") + "'"


class CommitConflictError(RuntimeError):
    pass


class LanceDBStore(dg.ConfigurableResource):
    """The LanceDB database at `LANCEDB_URI` (a folder, or an object-store URI).

    Writers on one machine take an exclusive file lock around each commit: concurrent
    `merge_insert`s inserting the same new keys can otherwise both succeed and duplicate rows
    (lancedb#3377). Across machines, the `ingestion` pool bounds writers and conflicting commits
    are retried with backoff.
    """

    uri: str = "data/lancedb"
    commit_retries: int = 6

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        if "://" in self.uri:
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

    def _table_for_write(self, name: str, schema: pa.Schema) -> lancedb.table.Table:
        db = self.connect()
        table = self.open_table(name, db)
        if table is None:
            table = db.create_table(name, schema=schema, exist_ok=True)
        return table

    def replace_documents_rows(self, name: str, rows: pa.Table, doc_ids: Iterable[str]) -> int | None:
        """Make `rows` the complete content of `name` for `doc_ids`, in one commit.

        Rows of those documents that `rows` no longer contains are deleted by the same
        `merge_insert`, so readers see either the old or the new set, never a mix. Returns the
        new table version, or None when there was nothing to do.
        """
        doc_ids = sorted(set(doc_ids))
        if not doc_ids:
            return None
        with self.write_lock():
            return self._replace(name, rows, doc_ids)

    def _replace(self, name: str, rows: pa.Table, doc_ids: list[str]) -> int:
        table = self._table_for_write(name, rows.schema)
        rows = rows.cast(table.schema) if rows.schema != table.schema else rows
        key = ROW_KEYS[name]

        def write() -> None:
            if rows.num_rows == 0:
                table.delete(doc_filter(doc_ids))
                return
            (
                table.merge_insert(key)
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(doc_filter(doc_ids))
                .execute(rows)
            )

        self._with_retries(write, f"replace {len(doc_ids)} document(s) in {name}")
        return table.version

    def delete_documents(self, doc_ids: Iterable[str]) -> dict[str, int]:
        """Delete every row of `doc_ids` from all three tables (one commit per table)."""
        doc_ids = sorted(set(doc_ids))
        deleted: dict[str, int] = {}
        if not doc_ids:
            return deleted
        db = self.connect()
        for name in TABLES:
            table = self.open_table(name, db)
            if table is None:
                continue
            where = doc_filter(doc_ids)
            with self.write_lock():
                before = table.count_rows()
                self._with_retries(lambda t=table, w=where: t.delete(w), f"delete from {name}")
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

    def ensure_indexes(self, vector_index_min_rows: int) -> list[str]:
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
        created = []
        for name, indexes in wanted.items():
            table = self.open_table(name, db)
            if table is None or table.count_rows() == 0:
                continue
            present = {tuple(ix.columns) for ix in table.list_indices()}
            with self.write_lock():
                for column, config in indexes:
                    if (column,) not in present:
                        table.create_index(column, config=config, replace=True)
                        created.append(f"{name}.{column}")
                if name == EMBEDDINGS and ("vector",) not in present and table.count_rows() >= vector_index_min_rows:
                    table.create_index(metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ")
                    created.append(f"{name}.vector")
        return created

    def optimize(self, keep_versions_hours: float) -> dict[str, dict[str, int]]:
        """Compact fragments, prune versions older than the window and fold new rows into indexes."""
        from datetime import timedelta

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

    def _with_retries(self, write: Any, what: str) -> Any:
        """Concurrent writers to one table may lose a commit race: retry with jittered backoff."""
        delay = 0.2
        for attempt in range(1, self.commit_retries + 1):
            try:
                return write()
            except Exception as exc:
                text = str(exc).lower()
                if "conflict" not in text and "retry" not in text and "concurrent" not in text:
                    raise
                if attempt == self.commit_retries:
                    raise CommitConflictError(
                        f"{what}: LanceDB commit conflict persisted after {attempt} attempts: {exc}"
                    ) from exc
                time.sleep(delay + random.uniform(0, delay))
                delay *= 2
        return None


def lancedb_store_from_env() -> LanceDBStore:
    return LanceDBStore(uri=from_env("LANCEDB_URI"))
