"""`ingestctl status`, `search` and `report`: read-only views of the instance and the store."""

from __future__ import annotations

import json
import sys
import time

from ingestctl.instance import get_instance, resolved


def run_status(doc_ids: list[str], as_json: bool, failed_only: bool) -> int:
    started = time.perf_counter()
    instance = get_instance()
    from ingestctl.runs import print_status_table
    from ingestion_assets.partitions import documents_partitions
    from ingestion_assets.status import document_statuses, summarize
    from resources.lancedb_store import lancedb_store_from_env

    store = resolved(lancedb_store_from_env())
    keys = list(doc_ids) or list(instance.get_dynamic_partitions(documents_partitions.name))
    statuses = document_statuses(instance, keys, store)
    if failed_only:
        statuses = [s for s in statuses if "failed" in s.phases.values()]
    summary = summarize(statuses)
    if as_json:
        print(json.dumps({"documents": [s.to_dict() for s in statuses], "summary": summary}, indent=2))
    else:
        print_status_table(statuses, show_phases=True)
        parts = [f"{phase}: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) for phase, counts in summary.items()]
        print(f"{len(statuses)} document(s) — " + "; ".join(parts) + f" ({time.perf_counter() - started:.2f} s)")
    return 0


def run_search(query: str, k: int, hybrid: bool, as_json: bool) -> int:
    from ingestion_assets.search import SearchUnavailable, search
    from resources.embedding_model import embedding_model_from_env
    from resources.lancedb_store import lancedb_store_from_env

    try:
        hits = search(resolved(lancedb_store_from_env()), resolved(embedding_model_from_env()), query, k, hybrid)
    except SearchUnavailable as exc:
        print(f"ingestctl search: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
        return 0
    for rank, hit in enumerate(hits, 1):
        pages = f"p.{hit.page_start}" if hit.page_start == hit.page_end else f"pp.{hit.page_start}-{hit.page_end}"
        print(f"{rank:>2}. {hit.score:.4f}  {hit.doc_id}  {pages}\n    {hit.snippet()}")
    if not hits:
        print("no hits")
    return 0


def run_report(as_json: bool) -> int:
    instance = get_instance()
    from ingestion_assets.report import build_report, report_markdown
    from resources.document_source import document_source_from_env
    from resources.embedding_model import embedding_model_from_env
    from resources.lancedb_store import lancedb_store_from_env
    from resources.settings import setting

    report = build_report(
        instance,
        resolved(lancedb_store_from_env()),
        resolved(document_source_from_env()),
        resolved(embedding_model_from_env()),
        setting("INGEST_SAMPLE_QUERIES"),
        float(setting("INGEST_MAX_DRIFT_PCT")),
    )
    print(json.dumps(report, indent=2, default=str) if as_json else report_markdown(report))
    return 0 if report["ready_for_queries"] else 1
