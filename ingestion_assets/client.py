"""`SearchClient`: the search of `ingestctl search` for RAG applications, created once and asked many questions, without Dagster."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Self

from ingestion_assets.search import DocumentHit, Hit, search, search_documents
from resources.lancedb_tables import LanceDBTables
from resources.model_loading import model_id_for, new_encoder, resolve_model_dir
from resources.settings import IngestSettings

if TYPE_CHECKING:
    from resources.embedding_backends import Encoder


class SearchClient:
    """Search over the store that ingestion writes: the passages or the documents that answer a question.

    It opens the database at `lancedb_uri` and loads the embedding model `model` once, when it is created, and
    keeps both until `close()` (or the end of a `with` block); every question reuses them. What is not given
    comes from the same environment variables as the rest of the product (`LANCEDB_URI`, `INGEST_MODEL`,
    `INGEST_EMBED_BACKEND`, `INGEST_DEVICE`, `INGEST_EMBED_PRECISION`, `INGEST_THREADS`, `INGEST_MODEL_CACHE`,
    read by `IngestSettings`), or from `settings`. The model must be the one the store was ingested with.

    Searches default to the mode of `ingestctl search` (`DEFAULT_SEARCH_MODE`); `source` keeps the results of
    one named source. Results are `Hit`s (a passage: `doc_id`, `section`, `pages`, `text`, `score`,
    `similarity`) or `DocumentHit`s (a document: `doc_id`, `title`, `sections`, its best `passages`).
    """

    def __init__(
        self,
        lancedb_uri: str | None = None,
        model: str | None = None,
        *,
        backend: str | None = None,
        device: str | None = None,
        threads: int | None = None,
        settings: IngestSettings | None = None,
    ) -> None:
        settings = settings or IngestSettings.from_env()
        self.model_name = model or settings.model
        self._tables: LanceDBTables | None = LanceDBTables(lancedb_uri or settings.lancedb_uri)
        self._tables.connect()
        self._encoder: Encoder | None = new_encoder(
            str(resolve_model_dir(self.model_name)),
            backend or settings.embed_backend,
            device or settings.device,
            settings.embed_precision,
            settings.threads if threads is None else threads,
            settings.batch_size,
            settings.model_cache_dir,
        )

    @property
    def model_id(self) -> str:
        """The model's name as the `model` column of `embeddings` stores it."""
        return model_id_for(self.model_name)

    @property
    def uri(self) -> str:
        return self.tables.uri

    @property
    def tables(self) -> LanceDBTables:
        """The client's database (its connection is opened once)."""
        if self._tables is None:
            raise RuntimeError("the SearchClient is closed")
        return self._tables

    @property
    def encoder(self) -> Encoder:
        """The client's model, loaded when the client was created."""
        if self._encoder is None:
            raise RuntimeError("the SearchClient is closed")
        return self._encoder

    def search(self, query: str, k: int = 5, mode: str | None = None, source: str | None = None) -> list[Hit]:
        """The `k` best passages for `query`, best first, by `mode` (one of `SEARCH_MODES`; None: the default
        mode), of every source or of `source`. `SearchUnavailable` when nothing is ingested yet."""
        return search(self.tables, self.encoder, query, k, source=source, mode=mode)

    def documents(
        self, query: str, k: int = 5, passages: int = 3, source: str | None = None, mode: str | None = None
    ) -> list[DocumentHit]:
        """The `k` best documents for `query`, best first, each with its title, sections and up to `passages` of
        its best passages, of every source or of `source`."""
        return search_documents(self.tables, self.encoder, query, k, passages, source=source, mode=mode)

    def close(self) -> None:
        """Release the connection and the model; the client answers no more questions."""
        self._tables = None
        self._encoder = None

    @property
    def closed(self) -> bool:
        return self._tables is None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.uri}, {self.model_id}, {self._encoder!r}"
        return f"SearchClient({state})"
