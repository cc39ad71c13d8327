"""`inbox_sensor`: new, changed, deleted and renamed files become ranged ingestion runs and purges."""

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from ingestion_assets.dagster_compat import AssetJob
from ingestion_assets.keys import SOURCE_TAG, Family
from ingestion_assets.planning import plan_runs
from ingestion_assets.purge import purge_job, purge_run_config
from ingestion_assets.records import PARTITION_ADD_CHUNK
from ingestion_assets.run_health import host_tags
from resources.document_source import DocumentSource
from resources.lancedb_store import LanceDBStore
from sensors.inbox_changes import detect_changes


@dataclass(frozen=True)
class InboxSensorSettings:
    interval_s: int = 30
    debounce_s: float = 5.0
    max_docs_per_tick: int = 5000
    max_docs_per_run: int = 200
    running: bool = True


def build_inbox_sensor(
    family: Family, run_job: AssetJob, jobs: Iterable[AssetJob], settings: InboxSensorSettings
) -> dg.SensorDefinition:
    """The sensor of one source, launching its ingestion jobs and the purge. It reads its resources from the
    context by key (each source's resource has its own); `**_invoked_with` takes the same resources, which Dagster
    passes as keywords when the sensor is invoked directly (`build_sensor_context`)."""

    @dg.sensor(
        name=family.sensor,
        jobs=[*jobs, purge_job],
        required_resource_keys={family.resource_key, "lancedb"},
        minimum_interval_seconds=settings.interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING if settings.running else dg.DefaultSensorStatus.STOPPED,
        description=(
            f"Watches the source `{family.source}` (a folder, s3://bucket/prefix/ or a site); a source that does not exist "
            "or cannot be listed fails the tick with the reason. New files get a partition and are "
            "ingested in batched ranged runs; changed files (size/mtime, then sha256) are re-ingested; deleted files are purged "
            "(rows and partition, by `purge_job`); renamed files reuse their stored parse and vectors. Files "
            f"younger than {settings.debounce_s:g} s (INGEST_DEBOUNCE_S), dot-files and *.part/*.tmp/*.crdownload "
            "wait. A document that failed is not retried until its file changes (see nightly_backfill). "
            "When most known documents vanish at once, their purge is held until `ingestctl confirm-deletions`. "
            "Files that are not documents are counted per reason on the `source_files` asset."
        ),
    )
    def inbox_sensor(context: dg.SensorEvaluationContext, **_invoked_with: Any) -> dg.SensorResult:
        source: DocumentSource = getattr(context.resources, family.resource_key)
        lancedb: LanceDBStore = context.resources.lancedb
        started = time.perf_counter()
        changes = detect_changes(context.instance, source, lancedb, settings.debounce_s, settings.max_docs_per_tick)
        needed = {key: family.phase_keys for key in changes.to_ingest}
        plans = plan_runs(changes.partition_order, needed, settings.max_docs_per_run)
        tags = {**host_tags(), "ingest/trigger": family.sensor, SOURCE_TAG: family.source}
        run_requests = [
            plan.run_request(
                run_job.name, tags, run_key="ingest:" + _digest(f"{key}\0{changes.to_ingest[key]}" for key in plan.keys)
            )
            for plan in plans
        ]
        deletions = changes.deletions
        if deletions.held:
            context.log.warning(deletions.line())
        if deletions.to_purge and not _purge_in_flight(context.instance, family):
            run_requests.append(
                dg.RunRequest(
                    job_name=purge_job.name, run_config=purge_run_config(deletions.to_purge, family.source), tags=tags
                )
            )
        partition_requests: list = [
            family.partitions.build_add_request(changes.new_partitions[i : i + PARTITION_ADD_CHUNK])
            for i in range(0, len(changes.new_partitions), PARTITION_ADD_CHUNK)
        ]
        summary = {
            "files": changes.files,
            "new": len(changes.new_partitions),
            "to_ingest": len(changes.to_ingest),
            "runs": len(plans),
            "deleted": len(deletions.vanished),
            "purge": len(deletions.to_purge),
            "deferred_purge": len(deletions.deferred),
            "held_deletions": len(deletions.vanished) if deletions.held else 0,
            "waiting": len(changes.waiting),
            "skipped": changes.listing.skipped_total,
            "seconds": round(time.perf_counter() - started, 3),
        }
        context.log.info(f"{family.source}: {summary}")
        if changes.listing.skipped:
            context.log.info(changes.listing.summary())
        return dg.SensorResult(
            asset_events=[changes.listing.observation()] if changes.listing.is_news(context.instance) else [],
            run_requests=run_requests,
            dynamic_partitions_requests=partition_requests,
            cursor=json.dumps(summary, sort_keys=True),
            skip_reason=None
            if run_requests or partition_requests
            else (deletions.line() if deletions.held else f"nothing to do ({changes.files} files)"),
        )

    return inbox_sensor


def _digest(parts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:24]


def _purge_in_flight(instance: dg.DagsterInstance, family: Family) -> bool:
    active = [
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
    ]
    runs = dg.RunsFilter(job_name=purge_job.name, statuses=active, tags={SOURCE_TAG: family.source})
    return bool(instance.get_run_ids(filters=runs, limit=1))
