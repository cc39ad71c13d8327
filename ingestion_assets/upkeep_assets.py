"""`lancedb_maintenance` and `ingestion_report`: keep the store fast and say whether it is complete and queryable."""

from typing import Any

import dagster as dg

from ingestion_assets.keys import EMBEDDINGS_KEY, GROUP, MAINTENANCE_KEY, POOL, REPORT_KEY
from ingestion_assets.report import ReportSettings, build_report, report_markdown
from resources.document_source import DocumentSource
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import LanceDBStore


@dg.asset(
    key=MAINTENANCE_KEY,
    group_name=GROUP,
    deps=[EMBEDDINGS_KEY],
    kinds={"lancedb"},
    pool=POOL,
    description=(
        "LanceDB upkeep: scalar indexes on doc_id/chunk_id, a full-text index on the embeddings' text, a "
        "vector index once embeddings exceed INGEST_VECTOR_INDEX_MIN_ROWS, then optimize() (compaction, "
        "pruning of versions older than INGEST_KEEP_VERSIONS_HOURS, folding new rows into indexes)."
    ),
)
def lancedb_maintenance(context: dg.AssetExecutionContext, lancedb: LanceDBStore) -> dg.MaterializeResult:
    before = lancedb.table_stats()
    created = lancedb.ensure_indexes()
    after = lancedb.optimize()
    metadata: dict[str, Any] = {"indexes_created": dg.MetadataValue.json(created)}
    for name, stats in after.items():
        was = before.get(name, {})
        metadata[f"{name}_rows"] = stats["rows"]
        metadata[f"{name}_version"] = stats["version"]
        metadata[f"{name}_fragments"] = stats["fragments"]
        metadata[f"{name}_fragments_before"] = was.get("fragments", 0)
    context.log.info(f"indexes created: {created}; tables after optimize: {after}")
    return dg.MaterializeResult(metadata=metadata)


def build_ingestion_report(settings: ReportSettings) -> dg.AssetsDefinition:
    """The report asset, with its sample queries and thresholds."""

    @dg.asset(
        key=REPORT_KEY,
        group_name=GROUP,
        deps=[MAINTENANCE_KEY],
        kinds={"lancedb", "sentence-transformers"},
        description=(
            "Is the store complete and queryable? Totals per table and per state, drift, the table-wide checks, "
            "timings of recent runs and the hits of the sample queries (INGEST_SAMPLE_QUERIES, YAML; a hit is a "
            "chunk scoring at least min_score, default INGEST_SAMPLE_MIN_SCORE). "
            "`ready_for_queries` is true only when every check passes and every sample query returns hits."
        ),
    )
    def ingestion_report(
        context: dg.AssetExecutionContext, lancedb: LanceDBStore, source: DocumentSource, embedder: EmbeddingModel
    ) -> dg.MaterializeResult:
        report = build_report(context.instance, lancedb, source, embedder, settings)
        return dg.MaterializeResult(
            metadata={
                "ready_for_queries": report["ready_for_queries"],
                "documents": report["documents"],
                "drift_pct": report["drift_pct"],
                "embeddings_rows": report["tables"].get("embeddings", {}).get("rows", 0),
                "failed_documents": report["states"]["embeddings"]["failed"],
                "model": report["model"],
                "embedding_backend": report["embedding_backend"],
                "report": dg.MetadataValue.md(report_markdown(report)),
            }
        )

    return ingestion_report
