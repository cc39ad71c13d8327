"""What every `ingestctl` command works with: the Dagster instance `dagster dev` shows, and the configured resources."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from resources.settings import IngestSettings

if TYPE_CHECKING:
    from ingestion_assets.phase_versions import PhaseVersions
    from resources.document_source import DocumentSource
    from resources.embedding_model import EmbeddingModel
    from resources.lancedb_store import LanceDBStore

DEFAULT_HOME = ".dagster_home"


def dagster_home() -> Path:
    """$DAGSTER_HOME; without it, `./.dagster_home` seeded with the project's dagster.yaml."""
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return Path(home)
    path = Path.cwd() / DEFAULT_HOME
    path.mkdir(exist_ok=True)
    config = Path.cwd() / "dagster.yaml"
    if config.exists() and not (path / "dagster.yaml").exists():
        shutil.copy(config, path / "dagster.yaml")
    print(f"DAGSTER_HOME not set; using {path}", file=sys.stderr)
    return path


def get_instance() -> dg.DagsterInstance:
    """The instance in `dagster_home()`, the one `dagster dev` shows."""
    return dg.DagsterInstance.from_config(str(dagster_home()))


@dataclass(frozen=True)
class CliContext:
    """The settings of this invocation, the resources they configure (with their values inline:
    initialising them through Dagster would build an ephemeral instance for each, a quarter of a
    second apiece), and the run config that applies the invocation's overrides to the runs it
    launches (resources, never the environment)."""

    settings: IngestSettings
    run_config: dict[str, Any]

    @classmethod
    def from_env(cls, source_dir: str | None = None) -> CliContext:
        settings = IngestSettings.from_env()
        if source_dir is None:
            return cls(settings, {})
        settings = settings.override(source_dir=source_dir)
        # Run config replaces a resource's whole configuration: give the source all of it.
        from ingestion_assets.parsing.registry import supported_suffixes

        source = settings.literal().document_source(supported_suffixes())
        config = {name: value for name, value in source.model_dump().items() if value is not None}
        return cls(settings, {"resources": {"source": {"config": config}}})

    @cached_property
    def instance(self) -> dg.DagsterInstance:
        return get_instance()

    @cached_property
    def source(self) -> DocumentSource:
        from ingestion_assets.parsing.registry import supported_suffixes

        return self.settings.literal().document_source(supported_suffixes())

    @cached_property
    def store(self) -> LanceDBStore:
        return self.settings.literal().lancedb_store()

    @cached_property
    def embedder(self) -> EmbeddingModel:
        return self.settings.literal().embedding_model()

    @cached_property
    def versions(self) -> PhaseVersions:
        from ingestion_assets.phase_versions import PhaseVersions

        return PhaseVersions.of(self.settings.literal().chunker_config(), self.embedder)
