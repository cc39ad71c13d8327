"""Real components only: a Dagster instance in a temporary DAGSTER_HOME, LanceDB in a temporary
folder and the bundled all-MiniLM-L6-v2 model (loaded once per test session)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"

# Resources bind these as EnvVar when the code location is imported, and EnvVar is resolved
# when each run starts, so each test can point them at its own folders.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="ingest-tests-"))
(_SESSION_DIR / "inbox").mkdir()  # a source folder that does not exist is an error, never "0 documents"
os.environ.setdefault("LANCEDB_URI", str(_SESSION_DIR / "lancedb"))
os.environ.setdefault("INGEST_SOURCE_DIR", str(_SESSION_DIR / "inbox"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import dagster as dg  # noqa: E402

from ingestion_assets.keys import PHASE_KEYS, documents_partitions  # noqa: E402
from ingestion_assets.phase_versions import PhaseVersions  # noqa: E402
from resources.lancedb_store import LanceDBStore  # noqa: E402
from resources.settings import IngestSettings  # noqa: E402


@dataclass(frozen=True)
class RunOutcome:
    success: bool
    run_id: str


@pytest.fixture
def inbox(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    monkeypatch.setenv("INGEST_SOURCE_DIR", str(folder))
    return folder


@pytest.fixture
def store(tmp_path, monkeypatch) -> LanceDBStore:
    uri = tmp_path / "lancedb"
    monkeypatch.setenv("LANCEDB_URI", str(uri))
    return LanceDBStore(uri=str(uri))


@pytest.fixture
def instance(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as inst:
        yield inst


@pytest.fixture
def samples_inbox(inbox) -> Path:
    shutil.copytree(SAMPLES, inbox, dirs_exist_ok=True)
    return inbox


def current_definitions() -> dg.Definitions:
    """The code location as the daemon would load it now, from this test's environment."""
    from ingestion_assets.definitions import build_definitions

    return build_definitions(IngestSettings.from_env())


def current_versions() -> PhaseVersions:
    """The parser, chunker and model versions of the resources configured by this test's environment."""
    settings = IngestSettings.from_env().literal()
    return PhaseVersions.of(settings.chunker_config(), settings.embedding_model())


def sample_keys(folder: Path) -> list[str]:
    from ingestion_assets.parsing import supported_suffixes
    from resources.document_source import DocumentSource

    return [f.key for f in DocumentSource(suffixes=supported_suffixes(), root_dir=str(folder)).scan().files]


def materialize(
    instance: dg.DagsterInstance,
    keys: Sequence[str],
    asset_keys: Sequence[dg.AssetKey] = PHASE_KEYS,
    resources_config: dict | None = None,
) -> RunOutcome:
    """Register `keys` and materialise them in ONE ranged run, as ingestctl and the sensor do."""
    from ingestion_assets.dagster_compat import range_tags
    from ingestion_assets.definitions import get_ingest_job
    from ingestion_assets.records import register_partitions

    register_partitions(instance, keys)
    order = instance.get_dynamic_partitions(documents_partitions.name)
    ranged = [k for k in order if k in set(keys)]
    assert ranged == order[order.index(ranged[0]) : order.index(ranged[0]) + len(ranged)], "keys must be contiguous"
    with dg.execute_job(
        dg.reconstructable(get_ingest_job).get_subset(asset_selection=set(asset_keys), asset_check_selection=set()),
        instance=instance,
        tags=range_tags(ranged[0], ranged[-1]),
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}, "resources": resources_config or {}},
    ) as result:
        return RunOutcome(result.success, result.run_id)


@contextmanager
def ingested_folder(inbox: Path, work: Path) -> Iterator[str]:
    """`inbox` ingested into a new instance and store under `work`, with the environment pointing at them until
    the block ends; yields the store's URI."""
    home, uri = work / "dagster_home", str(work / "lancedb")
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INGEST_SOURCE_DIR", str(inbox))
        env.setenv("LANCEDB_URI", uri)
        env.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:
            assert materialize(instance, sample_keys(inbox)).success
        yield uri


def statuses(instance: dg.DagsterInstance, keys: Sequence[str]) -> dict[str, dict[str, str | None]]:
    """{asset: {doc: status name or None}}"""
    return {
        key.to_user_string(): {
            k: (v.value if v else None)
            for k, v in (instance.get_status_by_partition(key, list(keys), documents_partitions) or {}).items()
        }
        for key in PHASE_KEYS
    }


def execute_request(instance: dg.DagsterInstance, request: dg.RunRequest) -> RunOutcome:
    """Execute a sensor's or schedule's RunRequest in this process, as the daemon would launch it."""
    job_name = request.job_name or "ingest_job"
    job = current_definitions().resolve_job_def(job_name)
    if request.asset_selection is not None:
        job = job.get_subset(
            asset_selection=set(request.asset_selection),
            asset_check_selection=set(request.asset_check_keys) if request.asset_check_keys is not None else None,
        )
    result = job.execute_in_process(
        instance=instance,
        run_config=request.run_config or None,
        tags=request.tags,
        raise_on_error=False,
    )
    return RunOutcome(result.success, result.run_id)


def apply_partition_requests(instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    """Apply a SensorResult's dynamic partition requests, as the daemon does before its runs."""
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
