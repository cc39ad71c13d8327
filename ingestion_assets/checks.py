"""Table-wide asset checks: visible in the UI with the offending document ids in their metadata.

They hang on the unpartitioned `ingestion_report`, not on the partitioned assets: each scans
whole tables, and a check attached to a partitioned asset would run (and be skipped) with every
one-document materialisation launched from the UI. `maintenance_job` runs them nightly; the UI
can execute them at any time.
"""

import dagster as dg

from ingestion_assets import verification
from ingestion_assets.assets import MODEL_ID
from ingestion_assets.report import ingestion_report
from resources.document_source import DocumentSource
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import LanceDBStore
from resources.settings import setting


@dg.asset_check(
    asset=ingestion_report,
    name="parity",
    description="Every chunk of every materialised document has exactly one embedding from the current model; "
    "fails when drift_pct = (missing + extra) / chunks exceeds INGEST_MAX_DRIFT_PCT (0.5 %).",
)
def parity_check(context: dg.AssetCheckExecutionContext, lancedb: LanceDBStore) -> dg.AssetCheckResult:
    return verification.parity(context.instance, lancedb, MODEL_ID, float(setting("INGEST_MAX_DRIFT_PCT"))).as_result()


@dg.asset_check(
    asset=ingestion_report,
    name="orphans",
    description="No row in documents, chunks or embeddings belongs to a document without a partition or a source file.",
)
def orphans_check(
    context: dg.AssetCheckExecutionContext, lancedb: LanceDBStore, source: DocumentSource
) -> dg.AssetCheckResult:
    return verification.orphans(context.instance, lancedb, source).as_result()


@dg.asset_check(
    asset=ingestion_report,
    name="reconcile",
    description="Partitions Dagster records as materialised have their rows in LanceDB, and rows in LanceDB "
    "belong to a recorded materialisation.",
)
def reconcile_check(context: dg.AssetCheckExecutionContext, lancedb: LanceDBStore) -> dg.AssetCheckResult:
    return verification.reconcile(context.instance, lancedb).as_result()


@dg.asset_check(
    asset=ingestion_report,
    name="vectors",
    description="Every vector has the model's dimensions, no NaN and unit norm.",
)
def vectors_check(lancedb: LanceDBStore, embedder: EmbeddingModel) -> dg.AssetCheckResult:
    return verification.vectors(lancedb, embedder.dimensions).as_result()


ingestion_checks = [parity_check, orphans_check, reconcile_check, vectors_check]
