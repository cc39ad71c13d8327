"""The code location: every asset, check, job, sensor, schedule and resource, built from one `IngestSettings`."""

from __future__ import annotations

import warnings

import dagster as dg

from ingestion_assets.assets import build_ingest_documents
from ingestion_assets.deletions import source_deletions_spec
from ingestion_assets.jobs import INGEST_JOB, INGEST_JOB_CELERY, SourceJobs, build_jobs
from ingestion_assets.keys import DEFAULT, Family, check_source_name
from ingestion_assets.parsing.registry import supported_suffixes
from ingestion_assets.phase_versions import PhaseVersions
from ingestion_assets.purge import purge_job
from ingestion_assets.report import ReportSettings
from ingestion_assets.source_listing import source_files_spec
from ingestion_assets.upkeep_assets import build_ingestion_report, build_lancedb_maintenance
from resources.settings import IngestSettings
from sensors.dead_run_sensor import build_dead_run_sensor
from sensors.inbox_sensor import InboxSensorSettings, build_inbox_sensor
from sensors.nightly_backfill import build_nightly_backfill, build_nightly_purge
from sensors.nightly_maintenance import build_nightly_maintenance
from sensors.report_sensor import build_report_sensor


def build_definitions(settings: IngestSettings) -> dg.Definitions:
    """Everything Dagster knows, configured by `settings`; code versions come from the configured resources.

    Each source (the default one, and each of `sources.yaml`) is a family of its own: assets, partitions,
    jobs, sensor and nightly backfill; the tables, the report, maintenance and the purge are shared."""
    suffixes = supported_suffixes()
    inline = settings.literal()
    embedder = inline.embedding_model()
    versions = PhaseVersions.of(inline.chunker_config(), embedder)
    families = [DEFAULT, *(Family(check_source_name(name)) for name in settings.source_names)]
    jobs = build_jobs(settings, families)
    running = settings.automation_running
    sources = {DEFAULT.resource_key: settings.document_source(suffixes)}
    sources.update({f.resource_key: settings.document_source(suffixes, f.source) for f in families[1:]})
    per_source = [
        _source_definitions(settings, family, jobs.sources[family], versions, embedder) for family in families
    ]
    definitions = dg.Definitions.merge(
        *per_source,
        dg.Definitions(
            assets=[build_lancedb_maintenance(families), build_ingestion_report(ReportSettings.of(settings), families)],
            jobs=[jobs.maintenance, jobs.report, purge_job],
            sensors=[
                build_dead_run_sensor(settings.sensor_interval_s, running),
                build_report_sensor(jobs.report, settings.report_interval_s, running, families),
            ],
            schedules=[
                build_nightly_purge(families, settings.nightly_cron, settings.timezone, running),
                build_nightly_maintenance(jobs.maintenance, settings.maintenance_cron, settings.timezone, running),
            ],
            executor=dg.in_process_executor,
            resources={**settings.resources(suffixes), **sources},
        ),
    )
    with warnings.catch_warnings():
        # Dagster 1.13 warns that `owners` is beta when it binds a sensor to its jobs, though no owners are set.
        warnings.filterwarnings("ignore", message="Parameter `owners`", category=dg.BetaWarning)
        definitions.get_repository_def()
    return definitions


def _source_definitions(
    settings: IngestSettings, family: Family, jobs: SourceJobs, versions: PhaseVersions, embedder
) -> dg.Definitions:
    """The assets, jobs, sensor and nightly backfill of one source."""
    named = None if family.is_default else settings.source_settings(family.source)
    interval = (named.sensor_interval_s if named else None) or settings.sensor_interval_s
    cron = (named.nightly_cron if named else None) or settings.nightly_cron
    running = settings.automation_running
    sensor_settings = InboxSensorSettings(
        interval, settings.debounce_s, settings.max_docs_per_tick, settings.max_docs_per_run, running
    )
    return dg.Definitions(
        assets=[
            build_ingest_documents(family, versions, embedder.dimensions, settings.max_docs_per_run),
            source_files_spec(family),
            source_deletions_spec(family),
        ],
        jobs=[jobs.ingest, jobs.ingest_celery],
        sensors=[build_inbox_sensor(family, jobs.run_job, [jobs.ingest, jobs.ingest_celery], sensor_settings)],
        schedules=[
            build_nightly_backfill(family, jobs.run_job, cron, settings.timezone, settings.max_docs_per_run, running)
        ],
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by `dagster dev`, the daemon and the webserver: settings from this process's environment."""
    return build_definitions(IngestSettings.from_env())


def get_ingest_job() -> dg.JobDefinition:
    """`ingest_job`, reconstructable by Dagster in any process (`ingestctl`, tests, run workers)."""
    return defs().resolve_job_def(INGEST_JOB)


def get_job(name: str) -> dg.JobDefinition:
    """Any job by name (a named source's `<name>_ingest_job`), for `dg.build_reconstructable_job`."""
    return defs().resolve_job_def(name)


def get_purge_job() -> dg.JobDefinition:
    """`purge_job` with its resources, reconstructable by Dagster in any process (`ingestctl`, tests)."""
    return defs().resolve_job_def(purge_job.name)


def get_report_job() -> dg.JobDefinition:
    """`report_job` with its resources, reconstructable by Dagster in any process (`ingestctl report`)."""
    return defs().resolve_job_def("report_job")


def get_ingest_job_celery() -> dg.JobDefinition:
    """`ingest_job_celery`, reconstructable in a Celery worker."""
    return defs().resolve_job_def(INGEST_JOB_CELERY)
