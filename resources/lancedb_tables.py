"""Reading the LanceDB tables (and creating the full-text index search needs) without Dagster: what search uses."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from resources.tables import DEFAULT_SOURCE, EMBEDDINGS

if TYPE_CHECKING:
    import lancedb
    from lancedb.expr import Expr

SOURCE = "source"


def of_source(table: lancedb.table.Table | None, source: str | None) -> Expr | bool:
    """The condition selecting one source's rows of `table`: True for all rows (no source asked, or the default
    source of a table stored before sources had names, which holds only its rows), False for none."""
    if source is None or table is None:
        return True
    if SOURCE in table.schema.names:
        from lancedb.expr import col

        return col(SOURCE) == source
    return source == DEFAULT_SOURCE


class LanceDBTables:
    """The tables of the LanceDB database at `uri` (a folder, or an object-store URI), for reading and search.

    An instance opens one connection on first use and keeps it; each call opens the table anew, so it sees
    the latest committed version. `LanceDBStore`, the Dagster resource that writes the tables, is one too.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._connection: lancedb.DBConnection | None = None

    def connect(self) -> lancedb.DBConnection:
        """The connection of this instance (opened on first use)."""
        if self._connection is None:
            self._connection = connect_to(self.uri)
        return self._connection

    @property
    def is_object_store(self) -> bool:
        return "://" in self.uri

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """An exclusive file lock on a local database folder, held around a commit (none on object storage)."""
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

    def open_table(self, name: str, db: lancedb.DBConnection | None = None) -> lancedb.table.Table | None:
        db = db or self.connect()
        try:
            return db.open_table(name)
        except (FileNotFoundError, ValueError):
            return None

    def read(
        self, name: str, columns: list[str] | None = None, where: Expr | None = None, source: str | None = None
    ) -> pa.Table:
        """Rows of a table (all, or those matching `where`, of one source); an empty table if it does not exist."""
        table = self.open_table(name)
        selected = of_source(table, source)
        if table is None or selected is False:
            return pa.table({c: [] for c in (columns or [])})
        if selected is not True:
            where = selected if where is None else where & selected
        query = table.search()
        if where is not None:
            query = query.where(where)
        if columns:
            query = query.select(columns)
        return query.limit(None).to_arrow()

    def count_rows(self, name: str, source: str | None = None) -> int:
        """Rows of a table (of one source, or of all)."""
        table = self.open_table(name)
        selected = of_source(table, source)
        if table is None or selected is False:
            return 0
        return table.count_rows() if selected is True else table.count_rows(selected.to_sql())

    def search_embeddings(
        self, vector: Any | None, k: int, text: str | None = None, source: str | None = None
    ) -> list[dict[str, Any]]:
        """The `k` nearest chunks (of one source, or of all) by cosine similarity (`score`); with `text` too, by
        vector and full-text search fused by reciprocal rank (`score` is the RRF score); with `text` and no
        `vector`, the `k` best chunks for `text` by full-text search alone (`score` is BM25). Rows carry every
        column of `embeddings`, the vector included."""
        if vector is None and text is None:
            raise ValueError("search_embeddings needs a vector, a text or both")
        table = self.open_table(EMBEDDINGS)
        selected = of_source(table, source)
        if table is None or selected is False:
            return []
        if text is None:
            query = table.search(vector).distance_type("cosine")
            if selected is not True:
                query = query.where(selected, prefilter=True)
            rows = query.limit(k).to_list()
            return [{**row, "score": 1.0 - row["_distance"]} for row in rows]
        table = self._with_text_index(table)
        if vector is None:
            query, score = table.search(text, query_type="fts"), "_score"
        else:
            query, score = table.search(query_type="hybrid").vector(vector).text(text), "_relevance_score"
        if selected is not True:
            query = query.where(selected, prefilter=True)
        rows = query.limit(k).to_list()
        return [{**row, "score": row[score]} for row in rows]

    def _with_text_index(self, table: lancedb.table.Table) -> lancedb.table.Table:
        """`embeddings`, with its full-text index created first if it has none."""
        if any(ix.columns == ["text"] for ix in table.list_indices()):
            return table
        self.refresh_text_index()
        reopened = self.open_table(EMBEDDINGS)
        return table if reopened is None else reopened

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


def connect_to(uri: str) -> lancedb.DBConnection:
    """A new connection to the database at `uri`."""
    import lancedb

    return lancedb.connect(uri)
