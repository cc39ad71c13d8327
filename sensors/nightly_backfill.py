"""`nightly_backfill`: every night, materialise exactly the phases that are missing, failed or stale."""

import dagster as dg

from ingestion_assets.dagster_compat import AssetJob
from ingestion_assets.phase_versions import PhaseVersions
from ingestion_assets.planning import plan_work
from ingestion_assets.run_health import fail_dead_runs, host_tags
from resources.chunker_config import ChunkerConfig
from resources.document_source import DocumentSource
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import LanceDBStore


def build_nightly_backfill(
    run_job: AssetJob, cron: str, timezone: str, max_docs_per_run: int, running: bool
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="nightly_backfill",
        job=run_job,
        cron_schedule=cron,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED,
        description=(
            "Finish everything: materialise exactly the phases that are missing, failed or stale "
            "(parser, chunker or model changed) for every document, in batched ranged runs. Runs "
            "whose worker died are marked failed first, so interrupted work is resumed. Cron "
            f"{cron} ({timezone}; INGEST_NIGHTLY_CRON, INGEST_TIMEZONE)."
        ),
    )
    def nightly_backfill(
        context: dg.ScheduleEvaluationContext,
        source: DocumentSource,
        lancedb: LanceDBStore,
        chunker: ChunkerConfig,
        embedder: EmbeddingModel,
    ) -> dg.SkipReason | list[dg.RunRequest]:
        fail_dead_runs(context.instance)
        versions = PhaseVersions.of(chunker, embedder)
        work = plan_work(context.instance, source.scan().files, lancedb, versions, max_docs_per_run, source=source)
        tags = {**host_tags(), "ingest/trigger": "nightly_backfill"}
        requests = [plan.run_request(run_job.name, tags) for plan in work.runs]
        return requests or dg.SkipReason("every document is materialised and up to date")

    return nightly_backfill
