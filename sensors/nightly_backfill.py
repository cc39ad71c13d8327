"""`nightly_backfill` and `nightly_purge`: every night, materialise exactly the phases that are missing, failed
or stale, and purge the documents whose file is gone."""

import dagster as dg

from ingestion_assets.dagster_compat import AssetJob
from ingestion_assets.deletions import known_documents, plan_deletions
from ingestion_assets.phase_versions import PhaseVersions
from ingestion_assets.planning import plan_work
from ingestion_assets.purge import purge_job, purge_run_config
from ingestion_assets.records import registered_partitions
from ingestion_assets.run_health import fail_dead_runs, host_tags
from resources.chunker_config import ChunkerConfig
from resources.document_source import DocumentSource
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import CHUNKS, EMBEDDINGS, LanceDBStore


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


def build_nightly_purge(cron: str, timezone: str, running: bool) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="nightly_purge",
        job=purge_job,
        cron_schedule=cron,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED,
        description=(
            "Purge the documents whose file is gone (rows and partitions), as the inbox sensor does, for the "
            "deletions it did not see (its daemon was down, it was stopped). A mass deletion is held until "
            f"`ingestctl confirm-deletions`. Cron {cron} ({timezone}), beside nightly_backfill."
        ),
    )
    def nightly_purge(
        context: dg.ScheduleEvaluationContext, source: DocumentSource, lancedb: LanceDBStore
    ) -> dg.SkipReason | dg.RunRequest:
        scan = source.scan()
        stored = lancedb.fingerprints()
        in_tables = lancedb.stored_documents((CHUNKS, EMBEDDINGS)) | set(stored)
        known = known_documents(in_tables, registered_partitions(context.instance))
        deletions = plan_deletions(context.instance, source, scan, stored, known)
        if deletions.held:
            context.log.warning(deletions.line())
            return dg.SkipReason(deletions.line())
        if not deletions.to_purge:
            return dg.SkipReason("no deleted document to purge")
        tags = {**host_tags(), "ingest/trigger": "nightly_purge"}
        return dg.RunRequest(job_name=purge_job.name, run_config=purge_run_config(deletions.to_purge), tags=tags)

    return nightly_purge
