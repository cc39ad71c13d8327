import dagster as dg

from ingestion_assets.assets import ingest_documents
from ingestion_assets.report import ingestion_report, lancedb_maintenance

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets(ingest_documents).without_checks(),
    executor_def=dg.in_process_executor,
    description=(
        "Parse, chunk and embed a range of documents in one process: the model loads once and the "
        "chunks of all documents are embedded together."
    ),
)

maintenance_job = dg.define_asset_job(
    "maintenance_job",
    selection=dg.AssetSelection.assets(lancedb_maintenance, ingestion_report)
    | dg.AssetSelection.checks_for_assets(ingest_documents),
    executor_def=dg.in_process_executor,
    description="Indexes and optimize() on the LanceDB tables, the table-wide checks, then the ingestion report.",
)
