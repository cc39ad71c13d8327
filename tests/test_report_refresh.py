"""`ingestion_report` is refreshed after ingestion (coalesced by `report_sensor`), computes its checks once as its
own check results, and `ingestctl report` shows the materialised verdict while it is current."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dagster as dg

from ingestion_assets.keys import REPORT_KEY
from tests.conftest import REPO, current_definitions, execute_request, materialize, sample_keys

CHECKS = ("parity", "orphans", "reconcile", "vectors")


def report_tick(instance) -> dg.RunRequest | dg.SkipReason:
    context = dg.build_sensor_context(instance=instance)
    return current_definitions().resolve_sensor_def("report_sensor")(context)


def report_runs(instance) -> int:
    return instance.get_runs_count(dg.RunsFilter(job_name="report_job"))


def test_report_follows_ingestion_at_most_once_per_interval(instance, store, samples_inbox, monkeypatch):
    monkeypatch.setenv("INGEST_REPORT_INTERVAL_S", "0")
    keys = sample_keys(samples_inbox)
    assert report_tick(instance).skip_message == "nothing ingested yet"

    materialize(instance, keys[:2])
    request = report_tick(instance)
    assert isinstance(request, dg.RunRequest)
    outcome = execute_request(instance, request._replace(job_name="report_job"))
    assert outcome.success

    record = instance.fetch_materializations(REPORT_KEY, limit=1).records[0]
    assert record.run_id == outcome.run_id and record.asset_materialization.metadata["documents"].value == 2
    executions = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(REPORT_KEY, name) for name in CHECKS]
    )
    assert {key.name: execution.run_id for key, execution in executions.items()} == dict.fromkeys(
        CHECKS, outcome.run_id
    ), "each check computed once, by the report's own run"
    assert report_tick(instance).skip_message == "the report is current"

    monkeypatch.setenv("INGEST_REPORT_INTERVAL_S", "3600")
    materialize(instance, keys[2:3])
    assert "the next one waits" in report_tick(instance).skip_message, "coalesced: one report per interval"
    monkeypatch.setenv("INGEST_REPORT_INTERVAL_S", "0")
    assert isinstance(report_tick(instance), dg.RunRequest)


def test_ingestctl_report_shows_the_current_verdict_and_makes_one_only_when_needed(
    instance, store, samples_inbox, tmp_path
):
    keys = sample_keys(samples_inbox)
    materialize(instance, keys[:2])
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def report(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ingestctl", "report", "--json", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = report()
    assert json.loads(first.stdout)["documents"] == 2 and report_runs(instance) == 1, "none yet: one is made"
    again = report()
    assert json.loads(again.stdout)["documents"] == 2 and report_runs(instance) == 1, "current: shown, not redone"
    assert again.stderr == ""

    materialize(instance, keys[2:3])
    stale = report()
    assert json.loads(stale.stdout)["documents"] == 2 and report_runs(instance) == 1
    assert "before the last ingestion or purge" in stale.stderr and "--refresh" in stale.stderr
    fresh = report("--refresh")
    assert json.loads(fresh.stdout)["documents"] == 3 and report_runs(instance) == 2


def test_a_report_materialised_by_the_previous_release_is_replaced_on_demand(instance, store, samples_inbox, tmp_path):
    """The previous release's report recorded no `report_json`: `ingestctl report` makes a new one."""
    materialize(instance, sample_keys(samples_inbox)[:1])
    instance.report_runless_asset_event(
        dg.AssetMaterialization(REPORT_KEY, metadata={"ready_for_queries": True, "documents": 1})
    )
    result = subprocess.run(
        [sys.executable, "-m", "ingestctl", "report", "--json"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert json.loads(result.stdout)["documents"] == 1 and report_runs(instance) == 1
