"""The Dagster instance the CLI records its runs in: the same one `dagster dev` shows."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import dagster as dg

DEFAULT_HOME = ".dagster_home"


def ensure_dagster_home() -> Path:
    """Use $DAGSTER_HOME; without it, `./.dagster_home` seeded with the project's dagster.yaml."""
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return Path(home)
    path = Path.cwd() / DEFAULT_HOME
    path.mkdir(exist_ok=True)
    config = Path.cwd() / "dagster.yaml"
    if config.exists() and not (path / "dagster.yaml").exists():
        shutil.copy(config, path / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(path)
    print(f"DAGSTER_HOME not set; using {path}", file=sys.stderr)
    return path


def get_instance() -> dg.DagsterInstance:
    ensure_dagster_home()
    return dg.DagsterInstance.get()


def resolved(resource):
    """A resource with its `EnvVar` fields resolved, for use outside a run."""
    return resource.process_config_and_initialize()
