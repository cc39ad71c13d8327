"""A remote Celery worker ingesting from the bucket into LanceDB on the bucket: the worker has no
local inbox at all. Its environment names the bucket (INGEST_SOURCE_DIR, LANCEDB_URI, AWS_*), the
PostgreSQL instance (DAGSTER_HOME, DAGSTER_PG_*) and the Redis broker; its working directory and
HOME are an empty folder of its own."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from ingestion_assets.records import register_partitions
from resources.lancedb_store import DOCUMENTS
from tests.celery_worker import celery_worker_process, run_ingestion_on_worker
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

    run_ingestion_on_worker(pg_instance, names, remote_worker)
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
