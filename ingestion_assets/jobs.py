import dagster as dg

from ingestion_assets.assets import ingest_documents

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets(ingest_documents),
    executor_def=dg.in_process_executor,
    description=(
        "Parse, chunk and embed a range of documents in one process: the model loads once and the "
        "chunks of all documents are embedded together."
    ),
)
