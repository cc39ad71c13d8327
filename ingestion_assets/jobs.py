"""The jobs: ingestion in one process or on Celery workers, nightly maintenance, and the report alone."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from ingestion_assets.dagster_compat import AssetJob
from ingestion_assets.keys import MAINTENANCE_KEY, PHASE_KEYS, REPORT_KEY
from resources.settings import IngestSettings

INGEST_JOB = "ingest_job"
INGEST_JOB_CELERY = "ingest_job_celery"


@dataclass(frozen=True)
class Jobs:
    ingest: AssetJob
    ingest_celery: AssetJob
    maintenance: AssetJob
    report: AssetJob
    run_job: AssetJob
    """The job the sensor and the nightly backfill launch (`INGEST_RUN_JOB`)."""

    @property
    def all(self) -> list[AssetJob]:
        return [self.ingest, self.ingest_celery, self.maintenance, self.report]


def _celery_broker_config(settings: IngestSettings) -> dict:
    """Broker and result backend; when `INGEST_CELERY_BROKER` is set it is read where the run starts,
    so the URL, which may hold a password, is never stored in run config nor shown in the UI."""
    if "celery_broker" in settings.from_environment:
        url = {"env": settings.env_name("celery_broker")}
    else:
        url = settings.celery_broker
    return {"broker": url, "backend": url}


def build_jobs(settings: IngestSettings) -> Jobs:
    from dagster_celery import celery_executor

    ingest = dg.define_asset_job(
        INGEST_JOB,
        selection=dg.AssetSelection.assets(*PHASE_KEYS),
        executor_def=dg.in_process_executor,
        description=(
            "Parse, chunk and embed a range of documents in one process: the model loads once and the "
            "chunks of all documents are embedded together."
        ),
    )
    ingest_celery = dg.define_asset_job(
        INGEST_JOB_CELERY,
        selection=dg.AssetSelection.assets(*PHASE_KEYS),
        executor_def=celery_executor.configured(_celery_broker_config(settings), name="ingest_celery_executor"),
        description=(
            "ingest_job with its step executed by a Celery worker (`dagster-celery worker start`) on any "
            "machine sharing the PostgreSQL instance; broker and result backend: INGEST_CELERY_BROKER."
        ),
    )
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
    if settings.run_job not in (INGEST_JOB, INGEST_JOB_CELERY):
        raise ValueError(f"INGEST_RUN_JOB={settings.run_job!r}: expected {INGEST_JOB} or {INGEST_JOB_CELERY}")
    run_job = ingest_celery if settings.run_job == INGEST_JOB_CELERY else ingest
    return Jobs(ingest, ingest_celery, maintenance, report, run_job)
