import os

import dagster as dg
from dagster_celery import celery_executor

from ingestion_assets.assets import ingest_documents
from ingestion_assets.report import ingestion_report, lancedb_maintenance
from resources.settings import setting

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets(ingest_documents),
    executor_def=dg.in_process_executor,
    description=(
        "Parse, chunk and embed a range of documents in one process: the model loads once and the "
        "chunks of all documents are embedded together."
    ),
)

maintenance_job = dg.define_asset_job(
    "maintenance_job",
    selection=dg.AssetSelection.assets(lancedb_maintenance, ingestion_report),
    executor_def=dg.in_process_executor,
    description="Indexes and optimize() on the LanceDB tables, the table-wide checks, then the ingestion report.",
)

CELERY_BROKER_DEFAULT = "redis://127.0.0.1:6379/0"


def _celery_config(_: dict) -> dict:
    """Broker and result backend: INGEST_CELERY_BROKER, read when a run or a worker's step starts
    (so the URL, which may hold a password, is never stored in run config nor shown in the UI)."""
    broker = os.environ.get("INGEST_CELERY_BROKER") or CELERY_BROKER_DEFAULT
    return {"broker": broker, "backend": broker}


ingest_job_celery = dg.define_asset_job(
    "ingest_job_celery",
    selection=dg.AssetSelection.assets(ingest_documents),
    executor_def=celery_executor.configured(_celery_config, name="ingest_celery_executor", config_schema={}),
    description=(
        "ingest_job with its step executed by a Celery worker (`dagster-celery worker start`) on any "
        "machine sharing the PostgreSQL instance; broker and result backend: INGEST_CELERY_BROKER."
    ),
)

run_job = ingest_job_celery if setting("INGEST_RUN_JOB") == ingest_job_celery.name else ingest_job
"""The job the sensor and the nightly backfill launch (INGEST_RUN_JOB)."""
