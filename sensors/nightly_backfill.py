import dagster as dg

from ingestion_assets.jobs import run_job
from ingestion_assets.partitions import documents_partitions
from ingestion_assets.planning import StoredVersions, phase_statuses, phases_needed, plan_runs
from ingestion_assets.run_health import fail_dead_runs, host_tags
from resources.document_source import DocumentSource
from resources.lancedb_store import LanceDBStore
from resources.settings import automation_running, setting


def finish_everything_requests(
    instance: dg.DagsterInstance, source: DocumentSource, lancedb: LanceDBStore, trigger: str
) -> list[dg.RunRequest]:
    """Ranged runs for every registered document whose phases are missing, failed or stale."""
    fail_dead_runs(instance)
    partitions = set(instance.get_dynamic_partitions(documents_partitions.name))
    files = [f for f in source.scan().files if f.key in partitions]
    keys = [f.key for f in files]
    needed = phases_needed(files, phase_statuses(instance, keys), StoredVersions.read(lancedb))
    order = instance.get_dynamic_partitions(documents_partitions.name)
    return [
        dg.RunRequest(
            asset_selection=list(plan.asset_keys),
            asset_check_keys=[],
            tags={**plan.tags, **host_tags(), "ingest/trigger": trigger},
        )
        for plan in plan_runs(order, needed, int(setting("INGEST_MAX_DOCS_PER_RUN")))
    ]


@dg.schedule(
    name="nightly_backfill",
    job=run_job,
    cron_schedule=setting("INGEST_NIGHTLY_CRON"),
    execution_timezone=setting("INGEST_TIMEZONE"),
    default_status=dg.DefaultScheduleStatus.RUNNING if automation_running() else dg.DefaultScheduleStatus.STOPPED,
    description=(
        "Finish everything: materialise exactly the phases that are missing, failed or stale "
        "(parser, chunker or model changed) for every document, in batched ranged runs. Runs "
        "whose worker died are marked failed first, so interrupted work is resumed. Cron "
        "INGEST_NIGHTLY_CRON (default 02:00), timezone INGEST_TIMEZONE."
    ),
)
def nightly_backfill(
    context: dg.ScheduleEvaluationContext, source: DocumentSource, lancedb: LanceDBStore
) -> dg.SkipReason | list[dg.RunRequest]:
    requests = finish_everything_requests(context.instance, source, lancedb, "nightly_backfill")
    return requests or dg.SkipReason("every document is materialised and up to date")
