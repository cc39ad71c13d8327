import dagster as dg

from ingestion_assets.jobs import maintenance_job
from resources.settings import automation_running, setting

nightly_maintenance = dg.ScheduleDefinition(
    name="nightly_maintenance",
    job=maintenance_job,
    cron_schedule=setting("INGEST_MAINTENANCE_CRON"),
    execution_timezone=setting("INGEST_TIMEZONE"),
    default_status=dg.DefaultScheduleStatus.RUNNING if automation_running() else dg.DefaultScheduleStatus.STOPPED,
    description=(
        "After the nightly backfill: LanceDB indexes and optimize() (compaction, version pruning), the "
        "table-wide checks and the ingestion report. Cron INGEST_MAINTENANCE_CRON (default 03:30). It "
        "shares the `ingestion` pool with ingestion runs, so it never writes while they do."
    ),
)
