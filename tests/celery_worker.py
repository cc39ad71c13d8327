"""A real `dagster-celery` worker for the scale-out tests, and an empty Redis database as its broker."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
import redis
from dagster._core.events import DagsterEventType
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from ingestion_assets.definitions import get_ingest_job_celery
from tests.conftest import REPO
from tests.services import REDIS_URL, unavailable
from tests.test_daemon_e2e import wait_for

BIN = Path(sys.executable).parent


@pytest.fixture
def redis_broker(monkeypatch) -> Iterator[str]:
    """An empty Redis database of this test's own (other sessions on the machine may run workers
    on the default one) as INGEST_CELERY_BROKER; flushed afterwards."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        unavailable(f"no Redis reachable at {REDIS_URL} for the Celery broker: {exc}")
    for db in random.sample(range(1, 16), 15):
        client = redis.Redis.from_url(f"{REDIS_URL}/{db}")
        if client.dbsize() == 0:
            break
    else:
        unavailable(f"no empty Redis database at {REDIS_URL}")
    url = f"{REDIS_URL}/{db}"
    monkeypatch.setenv("INGEST_CELERY_BROKER", url)
    yield url
    client.flushdb()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def celery_worker_process(name: str, cwd: Path, env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """`dagster-celery worker start` as documented in docs/production.md, one process slot, in its
    own process group; stopped with the whole group (Celery forks its pool)."""
    env = {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
    command = [
        str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
        "-y", str(REPO / "deploy" / "celery_worker.yaml"), "-n", name, "--", "--concurrency=1",
    ]  # fmt: skip
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for(lambda: " ready." in log_path.read_text() or worker.poll() is not None, 120, "the Celery worker")
        assert worker.poll() is None, log_path.read_text()[-4000:]
        yield worker
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        deadline = time.monotonic() + 60
        while _group_alive(worker.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        if _group_alive(worker.pid):
            os.killpg(worker.pid, signal.SIGKILL)
        if os.environ.get("E2E_SHOW_LOG"):
            print(log_path.read_text()[-20000:])


def run_ingestion_on_worker(instance: dg.DagsterInstance, names: list[str], worker: subprocess.Popen) -> None:
    """One ranged run of `ingest_job_celery` over `names`; its step must run in a process of `worker`."""
    with dg.execute_job(
        dg.reconstructable(get_ingest_job_celery),
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: names[0], ASSET_PARTITION_RANGE_END_TAG: names[-1]},
    ) as result:
        assert result.success
        run_id = result.run_id

    records = instance.get_records_for_run(run_id).records
    step_pid = next(
        r.event_log_entry.dagster_event.pid
        for r in records
        if r.event_log_entry.dagster_event_type == DagsterEventType.STEP_START
    )
    assert step_pid != os.getpid()
    assert os.getpgid(step_pid) == worker.pid, "the step ran in a process of the Celery worker"
    messages = [r.event_log_entry.message or "" for r in records]
    assert [m for m in messages if "in celery worker" in m] == [
        "[CeleryExecutor] Executing steps ingest_documents in celery worker"
    ]
