"""A remote Celery worker ingesting from the bucket into LanceDB on the bucket: the worker has no
local inbox at all. Its environment names the bucket (INGEST_SOURCE_DIR, LANCEDB_URI, AWS_*), the
PostgreSQL instance (DAGSTER_HOME, DAGSTER_PG_*) and the Redis broker; its working directory and
HOME are an empty folder of its own."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from ingestion_assets.definitions import get_ingest_job_celery
from ingestion_assets.planning import register_partitions
from resources.lancedb_store import DOCUMENTS
from tests.celery_worker import celery_worker_process
from tests.conftest import REPO, statuses
from tests.test_pipeline_s3 import bucket  # noqa: F401  (fixture)
from tests.test_postgres import assert_rows_exactly_once

pytest_plugins = ["tests.postgres_fixtures", "tests.s3_server", "tests.celery_worker"]
pytestmark = pytest.mark.slow

WORKER_NAME = "ingest-s3-test"


@pytest.fixture
def remote_worker(pg_home, redis_broker, bucket, tmp_path) -> Iterator[subprocess.Popen]:  # noqa: F811
    """`dagster-celery worker start` in an empty working directory, configured only by its environment."""
    workdir = tmp_path / "worker-machine"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INGEST_", "LANCEDB_", "DAGSTER_"))}
    env.update(
        PYTHONPATH=str(REPO),  # the code, as deployed on the worker machine
        HOME=str(workdir),
        INGEST_SOURCE_DIR=bucket.source_url,
        LANCEDB_URI=bucket.lancedb_uri,
        INGEST_CELERY_BROKER=redis_broker,
        DAGSTER_HOME=str(pg_home),
        HF_HUB_OFFLINE="1",
    )
    env.update({k: v for k, v in os.environ.items() if k.startswith(("AWS_", "DAGSTER_PG_"))})
    with celery_worker_process(WORKER_NAME, workdir, env, tmp_path / "worker.log") as worker:
        yield worker
    assert not (workdir / "inbox").exists() and not (workdir / "data").exists(), "documents or tables went local"


def test_remote_celery_worker_ingests_from_the_bucket(pg_instance, bucket, remote_worker, tmp_path):  # noqa: F811
    names = ["beekeeping.md", "lighthouse-keeping.pdf", "tidal-energy.txt"]
    for name in names:
        bucket.put_sample(name)
    assert bucket.source().scan().files, "the orchestrating process lists the bucket too"
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
    assert os.getpgid(step_pid) == remote_worker.pid, "the step ran in a process of the Celery worker"
    messages = [r.event_log_entry.message or "" for r in records]
    assert [m for m in messages if "in celery worker" in m] == [
        "[CeleryExecutor] Executing steps ingest_documents in celery worker"
    ]
    store = bucket.store()
    assert_rows_exactly_once(store, set(names))
    uris = sorted(r["source_uri"] for r in store.read(DOCUMENTS, ["source_uri"]).to_pylist())
    assert uris == [bucket.source_url + n for n in names]
    lance_keys = [
        o["Key"]
        for page in bucket.s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket.name, Prefix="lancedb/")
        for o in page.get("Contents", ())
    ]
    assert any(k.startswith("lancedb/embeddings.lance/data/") for k in lance_keys)
    for asset, by_doc in statuses(pg_instance, names).items():
        assert by_doc == {k: "MATERIALIZED" for k in names}, asset
