"""The `ingestion` pool holds for the runs `ingestctl` executes in its own process: the queue counts them, and
they wait while a run of the queue (maintenance compacting the tables) holds the pool."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import dagster as dg
import pytest

from ingestion_assets.keys import POOL
from tests.conftest import REPO, SAMPLES

pytestmark = pytest.mark.slow


def _event(kind: dg.DagsterEventType, job_name: str) -> dg.DagsterEvent:
    return dg.DagsterEvent(event_type_value=kind.value, job_name=job_name)


def test_ingestctl_waits_for_a_maintenance_run_and_the_queue_counts_its_runs(tmp_path):
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    shutil.copy(SAMPLES / "beekeeping.md", inbox / "beekeeping.md")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INGEST_", "LANCEDB_", "DAGSTER_HOME"))}
    env.update(PYTHONPATH=str(REPO), DAGSTER_HOME=str(home), LANCEDB_URI=str(tmp_path / "db"))
    env["INGEST_SOURCE_DIR"] = str(inbox)

    from ingestion_assets.definitions import build_definitions
    from resources.settings import IngestSettings

    maintenance = build_definitions(IngestSettings.from_env(env)).resolve_job_def("maintenance_job")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # A maintenance run the daemon launched, in progress: it holds the pool.
        holder = instance.create_run_for_job(job_def=maintenance, run_config={})
        assert POOL in holder.run_op_concurrency.all_pools
        instance.report_dagster_event(_event(dg.DagsterEventType.RUN_START, holder.job_name), holder.run_id)

        ingest = subprocess.Popen(
            [sys.executable, "-m", "ingestctl", "ingest"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            waiting = ""
            deadline = time.monotonic() + 120
            while f"waiting for run {holder.run_id} (maintenance_job)" not in waiting:
                assert time.monotonic() < deadline, waiting
                waiting += ingest.stdout.readline()
            time.sleep(3)
            ingest_runs = dg.RunsFilter(job_name="ingest_job")
            assert instance.get_runs_count(ingest_runs) == 0, "no ingestion run starts while the pool is held"

            instance.report_dagster_event(_event(dg.DagsterEventType.RUN_SUCCESS, holder.job_name), holder.run_id)
            out, _ = ingest.communicate(timeout=300)
        finally:
            if ingest.poll() is None:
                ingest.kill()
        assert ingest.returncode == 0, waiting + out
        released = instance.get_run_record_by_id(holder.run_id).end_time
        (record,) = instance.get_run_records(filters=ingest_runs)
        assert record.start_time >= released, "the ingestion run started after the pool was released"
        # The queue counts this in-process run against the pool, as it counts its own runs.
        assert record.dagster_run.run_op_concurrency.all_pools == {POOL}
