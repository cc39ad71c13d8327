"""`nightly_maintenance`: indexes, optimize(), the table-wide checks and the report, after the backfill."""

import dagster as dg

from ingestion_assets.dagster_compat import AssetJob


def build_nightly_maintenance(
    maintenance_job: AssetJob, cron: str, timezone: str, running: bool
) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="nightly_maintenance",
        job=maintenance_job,
        cron_schedule=cron,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED,
        description=(
            "After the nightly backfill: LanceDB indexes and optimize() (compaction, version pruning), the "
            f"table-wide checks and the ingestion report. Cron {cron} (INGEST_MAINTENANCE_CRON). It shares the "
            "`ingestion` pool with ingestion runs, so it never writes while they do."
        ),
    )
