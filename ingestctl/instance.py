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
from resources.tables import DEFAULT_SOURCE

if TYPE_CHECKING:
    from ingestion_assets.keys import Family
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
    source_name: str = DEFAULT_SOURCE
    """The source this invocation works on (`source` and `family`)."""

    @classmethod
    def from_env(cls, source_dir: str | None = None, source_name: str = DEFAULT_SOURCE) -> CliContext:
        """The settings of the environment; `source_dir` (for the default source) makes a folder or URL outside
        every configured source the default source's root for this invocation."""
        settings = IngestSettings.from_env()
        if source_dir is None:
            return cls(settings, {}, source_name)
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
        return self.source_named(self.source_name)

    def source_named(self, name: str) -> DocumentSource:
        """The default source (`default`) or a source of sources.yaml, with its values inline."""
        from ingestion_assets.parsing.registry import supported_suffixes

        return self.settings.literal().document_source(supported_suffixes(), None if name == DEFAULT_SOURCE else name)

    @property
    def source_names(self) -> list[str]:
        """Every source: the default one first, then those of sources.yaml."""
        return [DEFAULT_SOURCE, *self.settings.source_names]

    @cached_property
    def families(self) -> list[Family]:
        from ingestion_assets.keys import Family

        return [Family(name) for name in self.source_names]

    @property
    def family(self) -> Family:
        from ingestion_assets.keys import Family

        return Family(self.source_name)

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
