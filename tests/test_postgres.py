"""The production instance (deploy/dagster.yaml, PostgreSQL): the pipeline, the inbox sensor, the
nightly backfill and concurrent runs writing one LanceDB store, against the real server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.events import DagsterEventType
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from ingestion_assets.records import register_partitions
from ingestion_assets.status import document_statuses
from resources.lancedb_store import CHUNKS, DOCUMENTS, EMBEDDINGS
from tests.conftest import REPO, SAMPLES, current_versions, execute_request, materialize, sample_keys, statuses
from tests.test_daemon_e2e import unique_text
from tests.test_sensors import schedule_requests, tick

pytest_plugins = ["tests.postgres_fixtures"]

MATERIALIZED = "MATERIALIZED"
DEPLOY_CONFIG = REPO / "deploy" / "dagster.yaml"


def spans(requests) -> list[tuple[str, str]]:
    return [(r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG]) for r in requests]


def doc_ids(store, table) -> list[str]:
    return sorted({r["doc_id"] for r in store.read(table, ["doc_id"]).to_pylist()})


def assert_rows_exactly_once(store, expected: set[str]) -> None:
    """Every expected document has one `documents` row, and every chunk one row and one vector."""
    documents = Counter(r["doc_id"] for r in store.read(DOCUMENTS, ["doc_id"]).to_pylist())
    chunks = store.read(CHUNKS, ["chunk_id", "doc_id"]).to_pylist()
    embeddings = store.read(EMBEDDINGS, ["chunk_id", "doc_id"]).to_pylist()
    assert documents == Counter(expected)
    assert {r["doc_id"] for r in chunks} == expected
    for rows in (chunks, embeddings):
        duplicated = [k for k, n in Counter(r["chunk_id"] for r in rows).items() if n > 1]
        assert not duplicated, f"duplicate chunk_id rows: {duplicated[:5]}"
    assert {(r["chunk_id"], r["doc_id"]) for r in chunks} == {(r["chunk_id"], r["doc_id"]) for r in embeddings}


def test_deploy_config_shares_the_root_settings_and_holds_no_secret():
    deploy = yaml.safe_load(DEPLOY_CONFIG.read_text())
    root = yaml.safe_load((REPO / "dagster.yaml").read_text())

    for section in ("concurrency", "run_monitoring", "run_retries", "telemetry"):
        assert deploy[section] == root[section], section
    assert deploy["run_retries"]["retry_on_asset_or_op_failure"] is False
    assert deploy["concurrency"]["pools"] == {"default_limit": 1, "granularity": "run"}
    connection = deploy["storage"]["postgres"]["postgres_db"]
    assert {field: connection[field] for field in ("hostname", "port", "username", "password", "db_name")} == {
        "hostname": {"env": "DAGSTER_PG_HOST"},
        "port": {"env": "DAGSTER_PG_PORT"},
        "username": {"env": "DAGSTER_PG_USERNAME"},
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "db_name": {"env": "DAGSTER_PG_DB"},
    }


def test_instance_keeps_env_references_not_values(pg_instance):
    assert isinstance(pg_instance.run_storage, PostgresRunStorage)
    assert isinstance(pg_instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(pg_instance.schedule_storage, PostgresScheduleStorage)
    assert pg_instance.run_retries_max_retries == 1
    assert pg_instance.run_retries_retry_on_asset_or_op_failure is False
    assert pg_instance.get_concurrency_config().pool_config.default_pool_limit == 1
    # The ref travels to run workers and in every Celery task message: names, never the password.
    assert "env: DAGSTER_PG_PASSWORD" in pg_instance.get_ref().storage_data.config_yaml


def test_pipeline_and_failed_document_on_postgres(pg_instance, store, samples_inbox):
    good = sample_keys(samples_inbox)
    data = (samples_inbox / "lighthouse-keeping.pdf").read_bytes()
    (samples_inbox / "corrupt.pdf").write_bytes(data[: len(data) // 3])
    keys = sample_keys(samples_inbox)

    result = materialize(pg_instance, keys)

    assert not result.success
    assert pg_instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.FAILURE
    for asset, by_doc in statuses(pg_instance, keys).items():
        assert by_doc == {k: ("FAILED" if k == "corrupt.pdf" else MATERIALIZED) for k in keys}, asset
    report = {s.doc_id: s for s in document_statuses(pg_instance, keys, store, current_versions())}
    assert report["corrupt.pdf"].error.startswith("[documents]") and "PDF" in report["corrupt.pdf"].error
    assert report["corrupt.pdf"].phases == {"documents": "failed", "chunks": "failed", "embeddings": "failed"}
    assert all(report[k].ok and report[k].error is None and report[k].chunks for k in good)
    assert_rows_exactly_once(store, set(good))

    assert materialize(pg_instance, keys[keys.index("corrupt.pdf") + 1 :]).success, "a re-run of good documents"
    assert_rows_exactly_once(store, set(good))


def test_inbox_sensor_and_nightly_backfill_on_postgres(pg_instance, store, inbox, monkeypatch):
    monkeypatch.setenv("INGEST_DEBOUNCE_S", "0")
    for name in ("beekeeping.md", "tidal-energy.txt"):
        shutil.copy(SAMPLES / name, inbox / name)
    (inbox / "broken.pdf").write_bytes(b"%PDF-1.4 not really")

    first = tick(pg_instance, inbox, store)

    assert pg_instance.get_dynamic_partitions("documents") == ["beekeeping.md", "broken.pdf", "tidal-energy.txt"]
    assert spans(first.run_requests) == [("beekeeping.md", "tidal-energy.txt")]
    assert [execute_request(pg_instance, r).success for r in first.run_requests] == [False]
    assert doc_ids(store, EMBEDDINGS) == ["beekeeping.md", "tidal-energy.txt"]
    assert not tick(pg_instance, inbox, store, first.cursor).run_requests, "an unchanged failed file waits"

    nightly = schedule_requests(pg_instance, inbox, store)
    assert spans(nightly) == [("broken.pdf", "broken.pdf")]
    shutil.copy(SAMPLES / "sourdough-bread.pdf", inbox / "broken.pdf")
    assert [execute_request(pg_instance, r).success for r in nightly] == [True]
    assert schedule_requests(pg_instance, inbox, store) == []
    assert not tick(pg_instance, inbox, store).run_requests
    keys = pg_instance.get_dynamic_partitions("documents")
    assert all(s == MATERIALIZED for by_doc in statuses(pg_instance, keys).values() for s in by_doc.values())

    (inbox / "tidal-energy.txt").unlink()
    deleted = tick(pg_instance, inbox, store)
    assert [r.job_name for r in deleted.run_requests] == ["purge_job"]
    assert all(execute_request(pg_instance, r).success for r in deleted.run_requests)
    assert pg_instance.get_dynamic_partitions("documents") == ["beekeeping.md", "broken.pdf"]
    assert_rows_exactly_once(store, {"beekeeping.md", "broken.pdf"})


RUN_IN_SUBPROCESS = """
import json, sys
import dagster as dg
from ingestion_assets.keys import PHASE_KEYS
from ingestion_assets.definitions import get_ingest_job

with dg.DagsterInstance.get() as instance:
    with dg.execute_job(
        dg.reconstructable(get_ingest_job),
        instance=instance,
        tags=json.loads(sys.argv[1]),
        asset_selection=list(PHASE_KEYS),
    ) as result:
        print(json.dumps({"run_id": result.run_id, "success": result.success}))
"""


def launch_run(start: str, end: str, log: Path) -> subprocess.Popen:
    """A ranged run of ingest_job in a process of its own, on the instance of $DAGSTER_HOME."""
    tags = {ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end}
    with open(log, "w") as output:
        return subprocess.Popen(
            [sys.executable, "-c", RUN_IN_SUBPROCESS, json.dumps(tags)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _step_windows(instance: dg.DagsterInstance, run_ids: list[str]) -> list[tuple[float, float]]:
    windows = []
    for run_id in run_ids:
        records = instance.get_records_for_run(run_id).records
        times = {
            r.event_log_entry.dagster_event_type: r.event_log_entry.timestamp
            for r in records
            if r.event_log_entry.dagster_event_type
            in (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE)
        }
        end = times.get(DagsterEventType.STEP_SUCCESS, times.get(DagsterEventType.STEP_FAILURE))
        windows.append((times[DagsterEventType.STEP_START], end))
    return windows


@pytest.mark.slow
def test_four_concurrent_runs_write_every_document_once(pg_instance, store, inbox, tmp_path):
    names = [f"doc-{i}.txt" for i in range(5)]
    for i, name in enumerate(names):
        (inbox / name).write_text(unique_text(i, words=600))
    register_partitions(pg_instance, names)
    ranges = [(names[0], names[1]), (names[2], names[3]), (names[4], names[4]), (names[4], names[4])]
    logs = [tmp_path / f"run-{i}.log" for i in range(len(ranges))]

    processes = [launch_run(start, end, log) for (start, end), log in zip(ranges, logs, strict=True)]
    outcomes = []
    for process, log in zip(processes, logs, strict=True):
        code = process.wait(timeout=600)
        assert code == 0, log.read_text()[-4000:]
        outcomes.append(json.loads(log.read_text().strip().splitlines()[-1]))

    assert [o["success"] for o in outcomes] == [True] * 4
    run_ids = [o["run_id"] for o in outcomes]
    assert {pg_instance.get_run_by_id(r).status for r in run_ids} == {dg.DagsterRunStatus.SUCCESS}
    windows = _step_windows(pg_instance, run_ids)
    overlapping = max(sum(1 for s, e in windows if s <= t < e) for t, _ in windows)
    assert overlapping >= 2, f"the runs did not overlap: {windows}"
    assert_rows_exactly_once(store, set(names))
    for asset, by_doc in statuses(pg_instance, names).items():
        assert by_doc == {k: MATERIALIZED for k in names}, asset
