"""Table-wide asset checks: visible in the UI with the offending document ids in their metadata.

They hang on the unpartitioned `ingestion_report`, not on the partitioned assets: each scans
whole tables, and a check attached to a partitioned asset would run (and be skipped) with every
one-document materialisation launched from the UI. `maintenance_job` runs them nightly; the UI
can execute them at any time.
"""

import dagster as dg

from ingestion_assets import verification
from ingestion_assets.keys import REPORT_KEY
from resources.document_source import DocumentSource
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import LanceDBStore


def build_ingestion_checks(max_drift_pct: float) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset=REPORT_KEY,
        name="parity",
        description="Every chunk of every materialised document has exactly one embedding from the current model; "
        f"fails when drift_pct = (missing + extra) / chunks exceeds INGEST_MAX_DRIFT_PCT ({max_drift_pct} %).",
    )
    def parity_check(
        context: dg.AssetCheckExecutionContext, lancedb: LanceDBStore, embedder: EmbeddingModel
    ) -> dg.AssetCheckResult:
        return verification.parity(context.instance, lancedb, embedder.model_id, max_drift_pct).as_result()

    @dg.asset_check(
        asset=REPORT_KEY,
        name="orphans",
        description="No row in documents, chunks or embeddings belongs to a document without a partition or a "
        "source file.",
    )
    def orphans_check(
        context: dg.AssetCheckExecutionContext, lancedb: LanceDBStore, source: DocumentSource
    ) -> dg.AssetCheckResult:
        return verification.orphans(context.instance, lancedb, source).as_result()

    @dg.asset_check(
        asset=REPORT_KEY,
        name="reconcile",
        description="Partitions Dagster records as materialised have their rows in LanceDB, and rows in LanceDB "
        "belong to a recorded materialisation.",
    )
    def reconcile_check(context: dg.AssetCheckExecutionContext, lancedb: LanceDBStore) -> dg.AssetCheckResult:
        return verification.reconcile(context.instance, lancedb).as_result()

    @dg.asset_check(
        asset=REPORT_KEY, name="vectors", description="Every vector has the model's dimensions, no NaN and unit norm."
    )
    def vectors_check(lancedb: LanceDBStore, embedder: EmbeddingModel) -> dg.AssetCheckResult:
        return verification.vectors(lancedb, embedder.dimensions).as_result()

    return [parity_check, orphans_check, reconcile_check, vectors_check]
