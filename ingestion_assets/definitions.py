"""The code location: every asset, check, job, sensor, schedule and resource of the product."""

import dagster as dg

from ingestion_assets.assets import ingest_documents
from ingestion_assets.checks import ingestion_checks
from ingestion_assets.jobs import ingest_job, ingest_job_celery, maintenance_job
from ingestion_assets.purge import purge_job
from ingestion_assets.report import ingestion_report, lancedb_maintenance
from resources.document_source import document_source_from_env
from resources.embedding_model import embedding_model_from_env
from resources.lancedb_store import lancedb_store_from_env
from sensors.inbox_sensor import inbox_sensor
from sensors.nightly_backfill import nightly_backfill
from sensors.nightly_maintenance import nightly_maintenance

defs = dg.Definitions(
    assets=[ingest_documents, lancedb_maintenance, ingestion_report],
    asset_checks=ingestion_checks,
    jobs=[ingest_job, maintenance_job, purge_job, ingest_job_celery],
    sensors=[inbox_sensor],
    schedules=[nightly_backfill, nightly_maintenance],
    executor=dg.in_process_executor,
    resources={
        "source": document_source_from_env(),
        "lancedb": lancedb_store_from_env(),
        "embedder": embedding_model_from_env(),
    },
)


def get_ingest_job() -> dg.JobDefinition:
    """Module-level handle so runs launched by `ingestctl` can be reconstructed by Dagster."""
    return defs.resolve_job_def("ingest_job")


def get_ingest_job_celery() -> dg.JobDefinition:
    """`ingest_job_celery`, reconstructable in a Celery worker."""
    return defs.resolve_job_def("ingest_job_celery")
