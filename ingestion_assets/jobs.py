"""The jobs: ingestion in one process or on Celery workers, nightly maintenance, and the report alone."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from ingestion_assets.dagster_compat import AssetJob
from ingestion_assets.keys import MAINTENANCE_KEY, REPORT_KEY, SOURCE_TAG, Family
from resources.settings import IngestSettings

INGEST_JOB = "ingest_job"
INGEST_JOB_CELERY = "ingest_job_celery"
"""The values of INGEST_RUN_JOB (and the names of the default source's jobs)."""


@dataclass(frozen=True)
class SourceJobs:
    """The ingestion jobs of one source."""

    ingest: AssetJob
    ingest_celery: AssetJob
    run_job: AssetJob
    """The job its sensor and nightly backfill launch (`INGEST_RUN_JOB`)."""


@dataclass(frozen=True)
class Jobs:
    sources: dict[Family, SourceJobs]
    maintenance: AssetJob
    report: AssetJob

    @property
    def all(self) -> list[AssetJob]:
        ingestion = [job for jobs in self.sources.values() for job in (jobs.ingest, jobs.ingest_celery)]
        return [*ingestion, self.maintenance, self.report]


def _celery_broker_config(settings: IngestSettings) -> dict:
    """Broker and result backend; when `INGEST_CELERY_BROKER` is set it is read where the run starts,
    so the URL, which may hold a password, is never stored in run config nor shown in the UI."""
    if "celery_broker" in settings.from_environment:
        url = {"env": settings.env_name("celery_broker")}
    else:
        url = settings.celery_broker
    return {"broker": url, "backend": url}


def build_source_jobs(family: Family, settings: IngestSettings) -> SourceJobs:
    from dagster_celery import celery_executor

    selection = dg.AssetSelection.assets(*family.phase_keys)
    of_source = "" if family.is_default else f" of the source `{family.source}`"
    ingest = dg.define_asset_job(
        family.ingest_job,
        selection=selection,
        executor_def=dg.in_process_executor,
        tags={SOURCE_TAG: family.source},
        description=(
            f"Parse, chunk and embed a range of documents{of_source} in one process: the model loads once and the "
            "chunks of all documents are embedded together."
        ),
    )
    ingest_celery = dg.define_asset_job(
        family.ingest_job_celery,
        selection=selection,
        executor_def=celery_executor.configured(_celery_broker_config(settings), name="ingest_celery_executor"),
        tags={SOURCE_TAG: family.source},
        description=(
            f"{family.ingest_job} with its step executed by a Celery worker (`dagster-celery worker start`) on any "
            "machine sharing the PostgreSQL instance; broker and result backend: INGEST_CELERY_BROKER."
        ),
    )
    if settings.run_job not in (INGEST_JOB, INGEST_JOB_CELERY):
        raise ValueError(f"INGEST_RUN_JOB={settings.run_job!r}: expected {INGEST_JOB} or {INGEST_JOB_CELERY}")
    return SourceJobs(ingest, ingest_celery, ingest_celery if settings.run_job == INGEST_JOB_CELERY else ingest)


def build_jobs(settings: IngestSettings, families: list[Family]) -> Jobs:
    maintenance = dg.define_asset_job(
        "maintenance_job",
        selection=dg.AssetSelection.assets(MAINTENANCE_KEY, REPORT_KEY),
        executor_def=dg.in_process_executor,
        description="Indexes and optimize() on the LanceDB tables, the table-wide checks, then the ingestion report.",
    )
    report = dg.define_asset_job(
        "report_job",
        selection=dg.AssetSelection.assets(REPORT_KEY),
        executor_def=dg.in_process_executor,
        description="The ingestion report and its checks alone (requested by report_sensor after ingestion).",
    )
    return Jobs({family: build_source_jobs(family, settings) for family in families}, maintenance, report)
