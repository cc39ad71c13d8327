"""`lancedb_maintenance` and `ingestion_report`: keep the store fast and say whether it is complete and queryable."""

import json
from collections.abc import Sequence
from typing import Any

import dagster as dg

from ingestion_assets.keys import GROUP, MAINTENANCE_KEY, POOL, REPORT_KEY, Family
from ingestion_assets.report import ReportSettings, build_report, report_markdown, run_checks
from resources.document_source import DocumentSource
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import LanceDBStore


def build_lancedb_maintenance(families: Sequence[Family]) -> dg.AssetsDefinition:
    """The upkeep of the tables every source writes."""

    @dg.asset(
        key=MAINTENANCE_KEY,
        group_name=GROUP,
        deps=[family.embeddings_key for family in families],
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

    return lancedb_maintenance


def report_check_specs(max_drift_pct: float) -> list[dg.AssetCheckSpec]:
    """The table-wide checks, computed once by the report that lists them. They hang on the unpartitioned
    report, not on the partitioned assets: each scans whole tables, and a check of a partitioned asset would
    run (and be skipped) with every one-document materialisation launched from the UI."""
    descriptions = {
        "parity": "Every chunk of every materialised document has exactly one embedding from the current model; "
        f"fails when drift_pct = (missing + extra) / chunks exceeds INGEST_MAX_DRIFT_PCT ({max_drift_pct} %).",
        "orphans": "No row in documents, chunks or embeddings belongs to a document without a partition or a "
        "source file.",
        "reconcile": "Partitions Dagster records as materialised have their rows in LanceDB, and rows in LanceDB "
        "belong to a recorded materialisation.",
        "vectors": "Every vector has the model's dimensions, no NaN and unit norm.",
    }
    return [dg.AssetCheckSpec(name, asset=REPORT_KEY, description=text) for name, text in descriptions.items()]


def build_ingestion_report(settings: ReportSettings, families: Sequence[Family]) -> dg.AssetsDefinition:
    """The report asset of every source, with its sample queries, thresholds and checks."""

    @dg.asset(
        key=REPORT_KEY,
        group_name=GROUP,
        deps=[MAINTENANCE_KEY],
        kinds={"lancedb", "sentence-transformers"},
        check_specs=report_check_specs(settings.max_drift_pct),
        required_resource_keys={"lancedb", "embedder", *(family.resource_key for family in families)},
        description=(
            "Is the store complete and queryable? Totals per table and per state, drift, the table-wide checks "
            "(recorded as this asset's checks), held deletions, timings of recent runs and the hits of the sample "
            "queries (INGEST_SAMPLE_QUERIES, YAML; a hit is a chunk whose cosine similarity to the query is at least min_score, default "
            "INGEST_SAMPLE_MIN_SCORE). `ready_for_queries` is true only when every check passes and every sample "
            "query returns hits. Refreshed by `report_sensor` after ingestion changed something (at most once per "
            "INGEST_REPORT_INTERVAL_S) and by the nightly maintenance."
        ),
    )
    def ingestion_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        lancedb: LanceDBStore = context.resources.lancedb
        embedder: EmbeddingModel = context.resources.embedder
        sources: list[DocumentSource] = [getattr(context.resources, family.resource_key) for family in families]
        checks = run_checks(context.instance, lancedb, sources, embedder, settings.max_drift_pct)
        report = build_report(context.instance, lancedb, sources, embedder, settings, checks=checks)
        return dg.MaterializeResult(
            metadata={
                "ready_for_queries": report["ready_for_queries"],
                "documents": report["documents"],
                "drift_pct": report["drift_pct"],
                "embeddings_rows": report["tables"].get("embeddings", {}).get("rows", 0),
                "failed_documents": report["states"]["embeddings"]["failed"],
                "held_deletions": len(report["held_deletions"]),
                "model": report["model"],
                "embedding_backend": report["embedding_backend"],
                "report": dg.MetadataValue.md(report_markdown(report)),
                "report_json": dg.MetadataValue.json(json.loads(json.dumps(report, default=str))),
            },
            check_results=[check.as_result() for check in checks],
        )

    return ingestion_report
