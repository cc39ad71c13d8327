"""`report_sensor`: refresh `ingestion_report` minutes after ingestion changed something, at most once per interval."""

import time
from collections.abc import Sequence

import dagster as dg

from ingestion_assets.dagster_compat import AssetJob
from ingestion_assets.keys import DEFAULT, Family
from ingestion_assets.report import MaterializedReport, last_change

CHECK_EVERY_S = 60
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def build_report_sensor(
    report_job: AssetJob, interval_s: int, running: bool, families: Sequence[Family] = (DEFAULT,)
) -> dg.SensorDefinition:
    @dg.sensor(
        name="report_sensor",
        job=report_job,
        minimum_interval_seconds=min(CHECK_EVERY_S, interval_s),
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        description=(
            "Refreshes `ingestion_report` and its checks (report_job) when documents were ingested, failed or "
            f"purged since the last report, at most once every {interval_s} s (INGEST_REPORT_INTERVAL_S): the UI "
            "shows the verdict minutes after an ingest, not after the nightly maintenance."
        ),
    )
    def report_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        instance = context.instance
        changed = last_change(instance, families)
        latest = MaterializedReport.latest(instance)
        if changed is None:
            return dg.SkipReason("nothing ingested yet")
        if latest is not None and changed <= latest.timestamp:
            return dg.SkipReason("the report is current")
        if latest is not None and time.time() - latest.timestamp < interval_s:
            return dg.SkipReason(f"the last report is less than {interval_s} s old: the next one waits for that")
        if instance.get_runs_count(dg.RunsFilter(job_name=report_job.name, statuses=IN_FLIGHT)):
            return dg.SkipReason("a report run is in progress")
        return dg.RunRequest(run_key=f"report:{changed:.3f}")

    return report_sensor
