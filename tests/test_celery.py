"""Scale-out on Celery: a real `dagster-celery` worker, with Redis as broker and result backend,
executes the ingestion step of `ingest_job_celery` on the PostgreSQL-backed instance."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from ingestion_assets.definitions import get_ingest_job_celery
from ingestion_assets.planning import register_partitions
from tests.celery_worker import celery_worker_process
from tests.conftest import REPO, SAMPLES, statuses
from tests.test_postgres import assert_rows_exactly_once

pytest_plugins = ["tests.postgres_fixtures", "tests.celery_worker"]
pytestmark = pytest.mark.slow

WORKER_NAME = "ingest-test"


@pytest.fixture
def celery_worker(pg_home, redis_broker, store, inbox, tmp_path) -> Iterator[subprocess.Popen]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with celery_worker_process(WORKER_NAME, REPO, env, tmp_path / "worker.log") as worker:
        yield worker


def test_celery_worker_executes_the_ingestion_step(pg_instance, store, inbox, celery_worker):
    names = ["beekeeping.md", "lighthouse-keeping.pdf", "tidal-energy.txt"]
    for name in names:
        shutil.copy(SAMPLES / name, inbox / name)
    register_partitions(pg_instance, names)

    with dg.execute_job(
        dg.reconstructable(get_ingest_job_celery),
        instance=pg_instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: names[0], ASSET_PARTITION_RANGE_END_TAG: names[-1]},
    ) as result:
        assert result.success
        run_id = result.run_id

    records = pg_instance.get_records_for_run(run_id).records
    step_pid = next(
        r.event_log_entry.dagster_event.pid
        for r in records
        if r.event_log_entry.dagster_event_type == DagsterEventType.STEP_START
    )
    assert step_pid != os.getpid()
    assert os.getpgid(step_pid) == celery_worker.pid, "the step ran in a process of the Celery worker"
    messages = [r.event_log_entry.message or "" for r in records]
    assert [m for m in messages if "in celery worker" in m] == [
        "[CeleryExecutor] Executing steps ingest_documents in celery worker"
    ]
    assert_rows_exactly_once(store, set(names))
    for asset, by_doc in statuses(pg_instance, names).items():
        assert by_doc == {k: "MATERIALIZED" for k in names}, asset
