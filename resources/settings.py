"""The one place configuration is read from the environment: `IngestSettings`, and the resources it configures."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING

import dagster as dg

from resources.embedding_model import DEFAULT_MODEL

if TYPE_CHECKING:
    from resources.chunker_config import ChunkerConfig
    from resources.document_source import DocumentSource
    from resources.embedding_model import EmbeddingModel
    from resources.lancedb_store import LanceDBStore
    from resources.parser_config import ParserConfig

CELERY_BROKER_DEFAULT = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class IngestSettings:
    """Every setting of the product, with its environment variable and offline-friendly default.

    `from_env` reads the environment once; resources are built from it with `EnvVar` for the
    variables that are set (so the UI shows where a value came from) and literals otherwise.
    """

    lancedb_uri: str = field(default="data/lancedb", metadata={"env": "LANCEDB_URI"})
    source_dir: str = field(default="inbox", metadata={"env": "INGEST_SOURCE_DIR"})
    include: str = field(default="**/*", metadata={"env": "INGEST_INCLUDE"})
    exclude: str = field(default="", metadata={"env": "INGEST_EXCLUDE"})
    model: str = field(default=DEFAULT_MODEL, metadata={"env": "INGEST_MODEL"})
    device: str = field(default="cpu", metadata={"env": "INGEST_DEVICE"})
    embed_backend: str = field(default="auto", metadata={"env": "INGEST_EMBED_BACKEND"})
    embed_precision: str = field(default="auto", metadata={"env": "INGEST_EMBED_PRECISION"})
    threads: int = field(default=0, metadata={"env": "INGEST_THREADS"})
    model_cache_dir: str = field(default="", metadata={"env": "INGEST_MODEL_CACHE"})
    batch_size: int = field(default=32, metadata={"env": "INGEST_BATCH_SIZE"})
    chunk_tokens: int = field(default=200, metadata={"env": "INGEST_CHUNK_TOKENS"})
    chunk_overlap: int = field(default=30, metadata={"env": "INGEST_CHUNK_OVERLAP"})
    max_docs_per_run: int = field(default=200, metadata={"env": "INGEST_MAX_DOCS_PER_RUN"})
    sensor_interval_s: int = field(default=30, metadata={"env": "INGEST_SENSOR_INTERVAL_S"})
    debounce_s: float = field(default=5.0, metadata={"env": "INGEST_DEBOUNCE_S"})
    max_docs_per_tick: int = field(default=5000, metadata={"env": "INGEST_MAX_DOCS_PER_TICK"})
    nightly_cron: str = field(default="0 2 * * *", metadata={"env": "INGEST_NIGHTLY_CRON"})
    timezone: str = field(default="UTC", metadata={"env": "INGEST_TIMEZONE"})
    maintenance_cron: str = field(default="30 3 * * *", metadata={"env": "INGEST_MAINTENANCE_CRON"})
    vector_index_min_rows: int = field(default=100_000, metadata={"env": "INGEST_VECTOR_INDEX_MIN_ROWS"})
    keep_versions_hours: float = field(default=24.0, metadata={"env": "INGEST_KEEP_VERSIONS_HOURS"})
    report_interval_s: int = field(default=600, metadata={"env": "INGEST_REPORT_INTERVAL_S"})
    sample_queries: str = field(default="samples/queries.yaml", metadata={"env": "INGEST_SAMPLE_QUERIES"})
    max_drift_pct: float = field(default=0.5, metadata={"env": "INGEST_MAX_DRIFT_PCT"})
    sample_min_score: float = field(default=0.3, metadata={"env": "INGEST_SAMPLE_MIN_SCORE"})
    max_file_mb: float = field(default=512.0, metadata={"env": "INGEST_MAX_FILE_MB"})
    keep_deleted: bool = field(default=False, metadata={"env": "INGEST_KEEP_DELETED"})
    deletion_guard_share: float = field(default=0.5, metadata={"env": "INGEST_DELETION_GUARD_SHARE"})
    deletion_guard_count: int = field(default=10, metadata={"env": "INGEST_DELETION_GUARD_COUNT"})
    max_pages: int = field(default=5000, metadata={"env": "INGEST_MAX_PAGES"})
    max_parse_seconds: float = field(default=300.0, metadata={"env": "INGEST_MAX_PARSE_SECONDS"})
    ocr: str = field(default="auto", metadata={"env": "INGEST_OCR"})
    run_job: str = field(default="ingest_job", metadata={"env": "INGEST_RUN_JOB"})
    automation: str = field(default="on", metadata={"env": "INGEST_AUTOMATION"})
    celery_broker: str = field(default=CELERY_BROKER_DEFAULT, metadata={"env": "INGEST_CELERY_BROKER"})
    from_environment: frozenset[str] = frozenset()
    """Names of the fields whose value came from a set environment variable."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IngestSettings:
        environ = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            name = f.metadata.get("env")
            raw = environ.get(name) if name else None
            if raw:
                kind = type(f.default)
                if kind is bool:
                    values[f.name] = _flag(name, raw)
                else:
                    values[f.name] = kind(raw) if kind is not str else raw
        return cls(**values, from_environment=frozenset(values))

    def override(self, **values) -> IngestSettings:
        """These settings with some values replaced (no longer bound to their variables)."""
        return replace(self, **values, from_environment=self.from_environment - set(values))

    def literal(self) -> IngestSettings:
        """These settings with every value inline (no `EnvVar`): resources built from them are
        ready to use in this process without Dagster initialising them (the CLI)."""
        return replace(self, from_environment=frozenset())

    def env_name(self, field_name: str) -> str:
        return next(f.metadata["env"] for f in fields(self) if f.name == field_name)

    def _bound(self, field_name: str):
        """`EnvVar` for a value that came from the environment (resolved again when a run starts)."""
        value = getattr(self, field_name)
        if field_name not in self.from_environment:
            return value
        name = self.env_name(field_name)
        if isinstance(value, bool) or not isinstance(value, int | str):
            return value
        return dg.EnvVar.int(name) if isinstance(value, int) else dg.EnvVar(name)

    @property
    def automation_running(self) -> bool:
        """Whether the sensor and schedules start RUNNING (`INGEST_AUTOMATION=on`) or STOPPED."""
        return self.automation.strip().lower() not in ("off", "false", "0", "stopped")

    def document_source(self, suffixes: Sequence[str]) -> DocumentSource:
        """The source, listing the file types in `suffixes` (those the parsers read)."""
        from resources.document_source import DocumentSource

        return DocumentSource(
            root_dir=self._bound("source_dir"),
            suffixes=list(suffixes),
            include=self._bound("include"),
            exclude=self._bound("exclude"),
            max_file_mb=self.max_file_mb,
            keep_deleted=self.keep_deleted,
            deletion_guard_share=self.deletion_guard_share,
            deletion_guard_count=self._bound("deletion_guard_count"),
        )

    def parser_config(self) -> ParserConfig:
        from resources.parser_config import ParserConfig

        return ParserConfig(
            max_pages=self._bound("max_pages"),
            max_parse_seconds=self.max_parse_seconds,
            ocr=self.ocr,
        )

    def chunker_config(self) -> ChunkerConfig:
        from resources.chunker_config import ChunkerConfig

        return ChunkerConfig(chunk_tokens=self._bound("chunk_tokens"), chunk_overlap=self._bound("chunk_overlap"))

    def lancedb_store(self) -> LanceDBStore:
        from resources.lancedb_store import LanceDBStore

        return LanceDBStore(
            uri=self._bound("lancedb_uri"),
            vector_index_min_rows=self._bound("vector_index_min_rows"),
            keep_versions_hours=self.keep_versions_hours,
        )

    def embedding_model(self) -> EmbeddingModel:
        from resources.embedding_model import EmbeddingModel

        return EmbeddingModel(
            model_name=self._bound("model"),
            device=self._bound("device"),
            backend=self._bound("embed_backend"),
            precision=self._bound("embed_precision"),
            threads=self._bound("threads"),
            model_cache_dir=self._bound("model_cache_dir"),
            batch_size=self._bound("batch_size"),
        )

    def resources(self, suffixes: Sequence[str]) -> dict[str, dg.ConfigurableResource]:
        """Every resource; the source lists the file types in `suffixes`."""
        return {
            "source": self.document_source(suffixes),
            "parser": self.parser_config(),
            "chunker": self.chunker_config(),
            "lancedb": self.lancedb_store(),
            "embedder": self.embedding_model(),
        }


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in _TRUE + _FALSE:
        raise ValueError(f"{name}={raw!r}: expected one of {', '.join(_TRUE + _FALSE)}")
    return value in _TRUE
