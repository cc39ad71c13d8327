"""`nightly_backfill` and `nightly_purge`: every night, materialise exactly the phases that are missing, failed
or stale, and purge the documents whose file is gone."""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from ingestion_assets.dagster_compat import AssetJob
from ingestion_assets.deletions import plan_source_deletions
from ingestion_assets.keys import SOURCE_TAG, Family
from ingestion_assets.phase_versions import PhaseVersions
from ingestion_assets.planning import plan_work
from ingestion_assets.purge import purge_job, purge_run_config
from ingestion_assets.run_health import fail_dead_runs, host_tags
from resources.document_source import DocumentSource


def build_nightly_backfill(
    family: Family, run_job: AssetJob, cron: str, timezone: str, max_docs_per_run: int, running: bool
) -> dg.ScheduleDefinition:
    """The nightly backfill of one source (resources read as `build_inbox_sensor`'s are)."""

    @dg.schedule(
        name=family.nightly_backfill,
        job=run_job,
        cron_schedule=cron,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED,
        required_resource_keys={family.resource_key, "lancedb", "chunker", "embedder"},
        description=(
            f"Finish everything of the source `{family.source}`: materialise exactly the phases that are missing, "
            "failed or stale (parser, chunker or model changed) for every document, in batched ranged runs. Runs "
            "whose worker died are marked failed first, so interrupted work is resumed. Cron "
            f"{cron} ({timezone}; INGEST_NIGHTLY_CRON, INGEST_TIMEZONE, or the source's `nightly_cron`)."
        ),
    )
    def nightly_backfill(
        context: dg.ScheduleEvaluationContext, **_invoked_with: Any
    ) -> dg.SkipReason | list[dg.RunRequest]:
        source: DocumentSource = getattr(context.resources, family.resource_key)
        resources = context.resources
        fail_dead_runs(context.instance)
        versions = PhaseVersions.of(resources.chunker, resources.embedder)
        work = plan_work(
            context.instance, source.scan().files, resources.lancedb, versions, max_docs_per_run, source=source
        )
        tags = {**host_tags(), "ingest/trigger": family.nightly_backfill, SOURCE_TAG: family.source}
        requests = [plan.run_request(run_job.name, tags) for plan in work.runs]
        return requests or dg.SkipReason("every document is materialised and up to date")

    return nightly_backfill


def build_nightly_purge(families: Sequence[Family], cron: str, timezone: str, running: bool) -> dg.ScheduleDefinition:
    """One schedule purging what vanished from every source (one run per source with deletions)."""

    @dg.schedule(
        name="nightly_purge",
        job=purge_job,
        cron_schedule=cron,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED,
        required_resource_keys={"lancedb", *(family.resource_key for family in families)},
        description=(
            "Purge the documents whose file is gone (rows and partitions), as the sources' sensors do, for the "
            "deletions they did not see (the daemon was down, a sensor was stopped). A mass deletion is held until "
            f"`ingestctl confirm-deletions`. Cron {cron} ({timezone}), beside nightly_backfill."
        ),
    )
    def nightly_purge(
        context: dg.ScheduleEvaluationContext, **_invoked_with: Any
    ) -> dg.SkipReason | list[dg.RunRequest]:
        requests: list[dg.RunRequest] = []
        held: list[str] = []
        for family in families:
            source: DocumentSource = getattr(context.resources, family.resource_key)
            deletions = plan_source_deletions(context.instance, source, context.resources.lancedb, source.scan())
            if deletions.held:
                context.log.warning(deletions.line())
                held.append(deletions.line())
            elif deletions.to_purge:
                tags = {**host_tags(), "ingest/trigger": "nightly_purge", SOURCE_TAG: family.source}
                config = purge_run_config(deletions.to_purge, family.source)
                requests.append(dg.RunRequest(job_name=purge_job.name, run_config=config, tags=tags))
        return requests or dg.SkipReason("; ".join(held) or "no deleted document to purge")

    return nightly_purge
