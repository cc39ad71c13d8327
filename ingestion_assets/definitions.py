"""The code location: every asset, check, job, sensor, schedule and resource, built from one `IngestSettings`."""

from __future__ import annotations

import warnings

import dagster as dg

from ingestion_assets.assets import build_ingest_documents
from ingestion_assets.deletions import source_deletions
from ingestion_assets.jobs import INGEST_JOB, INGEST_JOB_CELERY, build_jobs
from ingestion_assets.parsing.registry import supported_suffixes
from ingestion_assets.phase_versions import PhaseVersions
from ingestion_assets.purge import purge_job
from ingestion_assets.report import ReportSettings
from ingestion_assets.source_listing import source_files
from ingestion_assets.upkeep_assets import build_ingestion_report, lancedb_maintenance
from resources.settings import IngestSettings
from sensors.dead_run_sensor import build_dead_run_sensor
from sensors.inbox_sensor import InboxSensorSettings, build_inbox_sensor
from sensors.nightly_backfill import build_nightly_backfill, build_nightly_purge
from sensors.nightly_maintenance import build_nightly_maintenance
from sensors.report_sensor import build_report_sensor


def build_definitions(settings: IngestSettings) -> dg.Definitions:
    """Everything Dagster knows, configured by `settings`; code versions come from the configured resources."""
    resources = settings.resources(supported_suffixes())
    inline = settings.literal()
    embedder = inline.embedding_model()
    versions = PhaseVersions.of(inline.chunker_config(), embedder)
    jobs = build_jobs(settings)
    running = settings.automation_running
    definitions = dg.Definitions(
        assets=[
            build_ingest_documents(versions, embedder.dimensions, settings.max_docs_per_run),
            source_files,
            source_deletions,
            lancedb_maintenance,
            build_ingestion_report(ReportSettings.of(settings)),
        ],
        jobs=[*jobs.all, purge_job],
        sensors=[
            build_inbox_sensor(
                jobs.run_job,
                [jobs.ingest, jobs.ingest_celery],
                InboxSensorSettings(
                    settings.sensor_interval_s,
                    settings.debounce_s,
                    settings.max_docs_per_tick,
                    settings.max_docs_per_run,
                    running,
                ),
            ),
            build_dead_run_sensor(settings.sensor_interval_s, running),
            build_report_sensor(jobs.report, settings.report_interval_s, running),
        ],
        schedules=[
            build_nightly_backfill(
                jobs.run_job, settings.nightly_cron, settings.timezone, settings.max_docs_per_run, running
            ),
            build_nightly_purge(settings.nightly_cron, settings.timezone, running),
            build_nightly_maintenance(jobs.maintenance, settings.maintenance_cron, settings.timezone, running),
        ],
        executor=dg.in_process_executor,
        resources=resources,
    )
    with warnings.catch_warnings():
        # Dagster 1.13 warns that `owners` is beta when it binds a sensor to its jobs, though no owners are set.
        warnings.filterwarnings("ignore", message="Parameter `owners`", category=dg.BetaWarning)
        definitions.get_repository_def()
    return definitions


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by `dagster dev`, the daemon and the webserver: settings from this process's environment."""
    return build_definitions(IngestSettings.from_env())


def get_ingest_job() -> dg.JobDefinition:
    """`ingest_job`, reconstructable by Dagster in any process (`ingestctl`, tests, run workers)."""
    return defs().resolve_job_def(INGEST_JOB)


def get_purge_job() -> dg.JobDefinition:
    """`purge_job` with its resources, reconstructable by Dagster in any process (`ingestctl`, tests)."""
    return defs().resolve_job_def(purge_job.name)


def get_report_job() -> dg.JobDefinition:
    """`report_job` with its resources, reconstructable by Dagster in any process (`ingestctl report`)."""
    return defs().resolve_job_def("report_job")


def get_ingest_job_celery() -> dg.JobDefinition:
    """`ingest_job_celery`, reconstructable in a Celery worker."""
    return defs().resolve_job_def(INGEST_JOB_CELERY)
