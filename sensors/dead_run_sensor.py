"""`dead_run_sensor`: runs whose worker process died are marked failed, so their documents can be resumed."""

import dagster as dg

from ingestion_assets.run_health import fail_dead_runs


def build_dead_run_sensor(interval_s: int, running: bool) -> dg.SensorDefinition:
    @dg.sensor(
        name="dead_run_sensor",
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        description=(
            "Marks failed the runs started on this host whose worker process is gone (killed, crashed, "
            "machine restarted), which would otherwise stay STARTED with their documents in progress. "
            "Their documents are then retried by the nightly backfill (which runs this check first) "
            "or `ingestctl ingest`/`retry`."
        ),
    )
    def dead_run_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        failed = fail_dead_runs(context.instance)
        if failed:
            context.log.warning(f"marked {len(failed)} run(s) whose worker died as failed: {', '.join(failed)}")
            return dg.SkipReason(f"marked {len(failed)} dead run(s) failed: {', '.join(failed)}")
        return dg.SkipReason("no dead runs")

    return dead_run_sensor
