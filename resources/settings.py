"""The one place configuration is read from the environment: `IngestSettings`, and the resources it configures."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from resources.model_loading import DEFAULT_MODEL

if TYPE_CHECKING:
    import dagster as dg

    from resources.chunker_config import ChunkerConfig
    from resources.document_source import DocumentSource
    from resources.embedding_model import EmbeddingModel
    from resources.lancedb_store import LanceDBStore
    from resources.parser_config import ParserConfig

CELERY_BROKER_DEFAULT = "redis://127.0.0.1:6379/0"
SOURCES_FILE_NAME = "sources.yaml"
"""Read from DAGSTER_HOME when INGEST_SOURCES_FILE is not set."""
WEB_CACHE_NAME = "web_crawl.sqlite"
"""The sites' crawl cache in DAGSTER_HOME when INGEST_WEB_CACHE is not set."""


@dataclass(frozen=True)
class SourceSettings:
    """One named source of `sources.yaml`; a limit left out takes the deployment's (INGEST_*) value."""

    name: str
    location: str
    include: str = "**/*"
    exclude: str = ""
    max_file_mb: float | None = None
    keep_deleted: bool | None = None
    deletion_guard_share: float | None = None
    deletion_guard_count: int | None = None
    sensor_interval_s: int | None = None
    nightly_cron: str | None = None
    max_depth: int | None = None
    """A site: link hops followed from the start page."""
    max_pages: int | None = None
    """A site: URLs one listing fetches."""
    requests_per_second: float | None = None
    """A site: requests per second to its host."""
    aws_env_prefix: str = ""
    """A bucket's endpoint and credentials come from `<prefix>AWS_ENDPOINT_URL`, `<prefix>AWS_ACCESS_KEY_ID`...
    instead of `AWS_*`."""


def load_sources(path: Path) -> tuple[SourceSettings, ...]:
    """The named sources of a `sources.yaml` (`sources: {name: {location: ..., ...}}`); ValueError naming the file
    and the entry for anything it cannot use."""
    import yaml

    from resources.tables import DEFAULT_SOURCE

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the sources file: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("sources", {}), dict):
        raise ValueError(f"{path}: expected a mapping `sources:` of source names to their settings")
    allowed = {f.name: f for f in fields(SourceSettings) if f.name != "name"}
    sources = []
    for name, entry in (document.get("sources") or {}).items():
        where = f"{path}: source {name!r}"
        if not isinstance(entry, dict) or not entry.get("location"):
            raise ValueError(f"{where}: expected a mapping with at least `location:` (a folder, s3:// or https:// URL)")
        unknown = sorted(set(entry) - set(allowed))
        if unknown:
            raise ValueError(f"{where}: unknown setting(s) {unknown}; known: {sorted(allowed)}")
        if str(name) == DEFAULT_SOURCE:
            raise ValueError(f"{where}: `default` is the source of INGEST_SOURCE_DIR; give this one another name")
        values = {}
        for key, raw in entry.items():
            kind = {
                "max_file_mb": float,
                "deletion_guard_share": float,
                "deletion_guard_count": int,
                "sensor_interval_s": int,
                "max_depth": int,
                "max_pages": int,
                "requests_per_second": float,
                "keep_deleted": bool,
            }.get(key, str)
            try:
                values[key] = _flag(f"{where}: {key}", str(raw)) if kind is bool else kind(raw)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: {key}={raw!r}: {exc}") from exc
        sources.append(SourceSettings(str(name), **values))
    return tuple(sources)


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
    web_max_depth: int = field(default=5, metadata={"env": "INGEST_WEB_MAX_DEPTH"})
    web_max_pages: int = field(default=10_000, metadata={"env": "INGEST_WEB_MAX_PAGES"})
    web_requests_per_second: float = field(default=2.0, metadata={"env": "INGEST_WEB_REQUESTS_PER_SECOND"})
    web_allowed_private_hosts: str = field(default="", metadata={"env": "INGEST_WEB_ALLOWED_PRIVATE_HOSTS"})
    web_cache: str = field(default="", metadata={"env": "INGEST_WEB_CACHE"})
    """Default: `web_crawl.sqlite` in DAGSTER_HOME."""
    sources_file: str = field(default="", metadata={"env": "INGEST_SOURCES_FILE"})
    sources: tuple[SourceSettings, ...] = ()
    """The named sources of the sources file, beside the default one (INGEST_SOURCE_DIR)."""
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
        sources_file = _sources_file(values.get("sources_file", ""), environ)
        sources = load_sources(sources_file) if sources_file else ()
        _refuse_overlaps({"default": values.get("source_dir", cls.source_dir), **{s.name: s.location for s in sources}})
        bound = frozenset(values)
        if not values.get("web_cache") and environ.get("DAGSTER_HOME"):
            values["web_cache"] = str(Path(environ["DAGSTER_HOME"]) / WEB_CACHE_NAME)
        return cls(**values, sources=sources, from_environment=bound)

    def source_settings(self, name: str) -> SourceSettings:
        """The settings of a named source; KeyError naming the known ones."""
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(f"no source named {name!r}; sources: {', '.join(['default', *self.source_names])}")

    @property
    def source_names(self) -> list[str]:
        """The named sources (the default one, INGEST_SOURCE_DIR, is not among them)."""
        return [source.name for source in self.sources]

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
        import dagster as dg

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

    def document_source(self, suffixes: Sequence[str], name: str | None = None) -> DocumentSource:
        """The default source, or the named one, listing the file types in `suffixes` (those the parsers read)."""
        from resources.document_source import DocumentSource

        if name is not None:
            named = self.source_settings(name)

            def given(value, default):
                return default if value is None else value

            return DocumentSource(
                name=named.name,
                root_dir=named.location,
                suffixes=list(suffixes),
                include=named.include,
                exclude=named.exclude,
                max_file_mb=given(named.max_file_mb, self.max_file_mb),
                keep_deleted=given(named.keep_deleted, self.keep_deleted),
                deletion_guard_share=given(named.deletion_guard_share, self.deletion_guard_share),
                deletion_guard_count=given(named.deletion_guard_count, self.deletion_guard_count),
                aws_env_prefix=named.aws_env_prefix,
                web_max_depth=given(named.max_depth, self.web_max_depth),
                web_max_pages=given(named.max_pages, self.web_max_pages),
                web_requests_per_second=given(named.requests_per_second, self.web_requests_per_second),
                web_allowed_private_hosts=self.web_allowed_private_hosts,
                web_cache_path=self.web_cache,
            )
        return DocumentSource(
            root_dir=self._bound("source_dir"),
            suffixes=list(suffixes),
            include=self._bound("include"),
            exclude=self._bound("exclude"),
            max_file_mb=self.max_file_mb,
            keep_deleted=self.keep_deleted,
            deletion_guard_share=self.deletion_guard_share,
            deletion_guard_count=self._bound("deletion_guard_count"),
            web_max_depth=self.web_max_depth,
            web_max_pages=self.web_max_pages,
            web_requests_per_second=self.web_requests_per_second,
            web_allowed_private_hosts=self._bound("web_allowed_private_hosts"),
            web_cache_path=self.web_cache,
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
        """Every resource but the sources (`document_source`); the sources list the file types in `suffixes`."""
        return {
            "parser": self.parser_config(),
            "chunker": self.chunker_config(),
            "lancedb": self.lancedb_store(),
            "embedder": self.embedding_model(),
        }


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _refuse_overlaps(locations: Mapping[str, str]) -> None:
    """ValueError when one source lies inside another: its files would be ingested twice, under two ids."""
    roots = {name: _root_of(location) for name, location in locations.items()}
    for name, root in roots.items():
        for other, other_root in roots.items():
            if name != other and root.startswith(other_root):
                raise ValueError(
                    f"source {name!r} ({locations[name]}) lies inside source {other!r} ({locations[other]}): "
                    "its documents would be ingested twice under two ids; point one elsewhere"
                    if root != other_root
                    else f"sources {name!r} and {other!r} have the same location {locations[name]}"
                )


def _root_of(location: str) -> str:
    """A location as a prefix that another location inside it starts with."""
    value = location.strip()
    if "://" in value and not value.lower().startswith("file://"):
        return value.rstrip("/") + "/"
    from resources.sources.folder import local_path

    return str(local_path(value)).rstrip("/") + "/"


def _sources_file(configured: str, environ: Mapping[str, str]) -> Path | None:
    """INGEST_SOURCES_FILE (which must exist), else `sources.yaml` in DAGSTER_HOME if there is one."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ValueError(f"INGEST_SOURCES_FILE={configured!r}: no such file")
        return path
    home = environ.get("DAGSTER_HOME")
    candidate = Path(home) / SOURCES_FILE_NAME if home else None
    return candidate if candidate is not None and candidate.is_file() else None


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in _TRUE + _FALSE:
        raise ValueError(f"{name}={raw!r}: expected one of {', '.join(_TRUE + _FALSE)}")
    return value in _TRUE
