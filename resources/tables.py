"""The rows of the LanceDB tables `documents`, `chunks` and `embeddings`, each defined once; their Arrow schemas derive from them.

A column is declared with `column(arrow_type)`: the dataclass field is what the code reads and
writes, its Arrow type is what is stored. The key column of each table is its unenforced primary
key (Lance then records the keys each `merge_insert` inserts, so of two concurrent commits
inserting the same new key the later one conflicts and is re-planned instead of duplicating the
row: lancedb#3377, lance#4585), which keeps writers on several machines correct on object storage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Self

import pyarrow as pa

DEFAULT_SOURCE = "default"
"""The name of the source configured by INGEST_SOURCE_DIR, and of the rows stored before sources had names."""
DOC_ID_SEPARATOR = ":"


def doc_id_for(source: str, key: str) -> str:
    """The document id of the file `key` of `source`: the key itself for the default source, else `source:key`,
    so ids are unique across sources."""
    return key if source == DEFAULT_SOURCE else f"{source}{DOC_ID_SEPARATOR}{key}"


def key_for(source: str, doc_id: str) -> str:
    """The key, in its source, of the document `doc_id` of `source` (the inverse of `doc_id_for`)."""
    if source == DEFAULT_SOURCE:
        return doc_id
    prefix = f"{source}{DOC_ID_SEPARATOR}"
    if not doc_id.startswith(prefix):
        raise ValueError(f"{doc_id!r} is not a document of source {source!r}")
    return doc_id[len(prefix) :]


DOCUMENTS = "documents"
CHUNKS = "chunks"
EMBEDDINGS = "embeddings"
TABLES = (DOCUMENTS, CHUNKS, EMBEDDINGS)

PRIMARY_KEY = {b"lance-schema:unenforced-primary-key": b"true"}
"""Field metadata declaring a (non-nullable) column the table's unenforced primary key."""

TIMESTAMP = pa.timestamp("us", tz="UTC")
VECTOR = pa.list_(pa.float32())
"""Placeholder type of a vector column: stored as a fixed-size list whose size the model gives at run time."""


def column(arrow_type: pa.DataType, *, key: bool = False, required: bool = False, fill: str | None = None) -> Any:
    """A dataclass field stored as `arrow_type`; `key` makes it the primary key, `required` non-nullable.

    `fill` is a column added by an upgrade: the value rows stored before it existed are given, both
    when the table is upgraded and when such rows are read."""
    metadata = {"arrow": arrow_type, "key": key, "required": key or required, "fill": fill}
    return field(metadata=metadata) if fill is None else field(default=fill, metadata=metadata)


def source_column() -> Any:
    """The source a row's document comes from (`default` for INGEST_SOURCE_DIR), for filters and purges."""
    return column(pa.string(), fill=DEFAULT_SOURCE)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Row:
    """A row of one LanceDB table: its schema, and conversion to and from Arrow."""

    TABLE: ClassVar[str]

    @classmethod
    def key(cls) -> str:
        return next(f.name for f in fields(cls) if f.metadata["key"])

    @classmethod
    def schema(cls, dimensions: int | None = None) -> pa.Schema:
        """The stored schema; `dimensions` sizes a vector column."""
        columns = []
        for f in fields(cls):
            arrow = f.metadata["arrow"]
            if arrow == VECTOR:
                if dimensions is None:
                    raise ValueError(f"{cls.TABLE}.{f.name}: the vector size is needed for the schema")
                arrow = pa.list_(pa.float32(), dimensions)
            metadata = PRIMARY_KEY if f.metadata["key"] else None
            columns.append(pa.field(f.name, arrow, nullable=not f.metadata["required"], metadata=metadata))
        return pa.schema(columns)

    @classmethod
    def fills(cls) -> dict[str, str]:
        """Columns added by upgrades, with the value of the rows stored before them."""
        return {f.name: f.metadata["fill"] for f in fields(cls) if f.metadata["fill"] is not None}

    @classmethod
    def to_arrow(cls, rows: Sequence[Self], dimensions: int | None = None) -> pa.Table:
        names = [f.name for f in fields(cls)]
        return pa.table({name: [getattr(row, name) for row in rows] for name in names}, schema=cls.schema(dimensions))

    @classmethod
    def from_arrow(cls, table: pa.Table) -> list[Self]:
        """Rows read back (columns the class does not know are ignored)."""
        names = [f.name for f in fields(cls) if f.name in table.column_names]
        columns = [table.column(name).to_pylist() for name in names]
        return [cls(**dict(zip(names, values, strict=True))) for values in zip(*columns, strict=True)]


@dataclass(frozen=True)
class DocumentRow(Row):
    """A parsed document: where it came from, its text with page boundaries, and who parsed it."""

    TABLE: ClassVar[str] = DOCUMENTS

    doc_id: str = column(pa.string(), key=True)
    source_uri: str = column(pa.string())
    content_hash: str = column(pa.string())
    size_bytes: int = column(pa.int64())
    mtime: datetime = column(TIMESTAMP)
    format: str = column(pa.string())
    page_count: int = column(pa.int32())
    text: str = column(pa.large_string())
    page_offsets: list[int] = column(pa.list_(pa.int64()))
    """Character offset in `text` where each page starts."""
    parser_version: str = column(pa.string())
    ingested_at: datetime = column(TIMESTAMP)
    warnings: list[str] = column(pa.list_(pa.string()))
    title: str | None = column(pa.string())
    ocr_pages: int | None = column(pa.int32())
    metadata: str | None = column(pa.string())
    """What the file says about itself (author, dates; a message's sender and subject), as a JSON object."""
    source: str = source_column()


@dataclass(frozen=True)
class ChunkRow(Row):
    """A passage of a document, sized in the embedding model's tokens, with its page and character span."""

    TABLE: ClassVar[str] = CHUNKS

    chunk_id: str = column(pa.string(), key=True)
    doc_id: str = column(pa.string(), required=True)
    seq: int = column(pa.int32())
    text: str = column(pa.string())
    text_hash: str = column(pa.string())
    page_start: int = column(pa.int32())
    page_end: int = column(pa.int32())
    char_start: int = column(pa.int64())
    char_end: int = column(pa.int64())
    token_count: int = column(pa.int32())
    chunker: str = column(pa.string())
    section: str = column(pa.string())
    """Section path of the chunk, headings joined by " › " ("3 Options › 3.2 Rounding"); "" before any heading."""
    context: str = column(pa.string())
    """Header to embed in front of `text` ("title › section path\\n\\n"); `context + text` fits the budget."""
    source: str = source_column()

    def __post_init__(self) -> None:
        for name in ("section", "context"):
            if getattr(self, name) is None:  # rows written before the column existed
                object.__setattr__(self, name, "")

    @property
    def embedded_text(self) -> str:
        """What to embed: `context + text`."""
        return self.context + self.text

    @property
    def embedding_hash(self) -> str:
        """sha256 of `embedded_text`, the key of the vector cache: the same text under another
        heading or in another document embeds differently. Equals `text_hash` without context."""
        return text_hash(self.embedded_text) if self.context else self.text_hash


@dataclass(frozen=True)
class EmbeddingRow(Row):
    """The vector of a chunk's embedded text, with what search shows of the chunk."""

    TABLE: ClassVar[str] = EMBEDDINGS

    chunk_id: str = column(pa.string(), key=True)
    doc_id: str = column(pa.string(), required=True)
    vector: Any = column(VECTOR)
    text: str = column(pa.string())
    text_hash: str = column(pa.string())
    """The chunk's `embedding_hash`."""
    page_start: int = column(pa.int32())
    page_end: int = column(pa.int32())
    model: str = column(pa.string())
    section: str = column(pa.string())
    source: str = source_column()

    @classmethod
    def of(cls, chunk: ChunkRow, vector: Any, model: str) -> EmbeddingRow:
        return cls(
            chunk.chunk_id,
            chunk.doc_id,
            vector,
            chunk.text,
            chunk.embedding_hash,
            chunk.page_start,
            chunk.page_end,
            model,
            chunk.section,
            chunk.source,
        )


ROWS: dict[str, type[Row]] = {row.TABLE: row for row in (DocumentRow, ChunkRow, EmbeddingRow)}
ROW_KEYS = {name: row.key() for name, row in ROWS.items()}
