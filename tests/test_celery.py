"""Scale-out on Celery: a real `dagster-celery` worker, with Redis as broker and result backend,
executes the ingestion step of `ingest_job_celery` on the PostgreSQL-backed instance."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from ingestion_assets.records import register_partitions
from tests.celery_worker import celery_worker_process, run_ingestion_on_worker
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

    run_ingestion_on_worker(pg_instance, names, celery_worker)
    assert_rows_exactly_once(store, set(names))
    for asset, by_doc in statuses(pg_instance, names).items():
        assert by_doc == {k: "MATERIALIZED" for k in names}, asset
