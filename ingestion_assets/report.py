"""The ingestion report: totals per phase and state, the table-wide checks, sample queries and recent runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from ingestion_assets import verification
from ingestion_assets.dagster_compat import RANGE_END, RANGE_START
from ingestion_assets.deletions import current_holds
from ingestion_assets.keys import DEFAULT, REPORT_KEY, SOURCE_TAG, Family
from ingestion_assets.records import phase_statuses, registered_partitions
from ingestion_assets.source_listing import SourceListing
from ingestion_assets.status import STATE_NAMES
from resources.document_source import DocumentSource
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import TABLES, LanceDBStore
from resources.settings import IngestSettings


@dataclass(frozen=True)
class ReportSettings:
    """Where the sample queries are, what counts as a hit, and how much drift the parity check allows."""

    sample_queries: str = "samples/queries.yaml"
    sample_min_score: float = 0.3
    max_drift_pct: float = 0.5

    @classmethod
    def of(cls, settings: IngestSettings) -> ReportSettings:
        return cls(settings.sample_queries, settings.sample_min_score, settings.max_drift_pct)


def load_sample_queries(path: str | Path, default_min: float) -> list[dict[str, Any]]:
    """Entries `query`, optional `expected_doc` and `min_score` (a hit scores at least this much)."""
    import yaml

    file = Path(path)
    if not file.exists():
        return []
    entries = yaml.safe_load(file.read_text()) or []
    return [
        {
            "query": str(e["query"]),
            "expected_doc": str(e.get("expected_doc") or ""),
            "min_score": float(e.get("min_score", default_min)),
        }
        for e in entries
    ]


def recent_runs(
    instance: dg.DagsterInstance, families: Sequence[Family] = (DEFAULT,), limit: int = 10
) -> list[dict[str, Any]]:
    """The last ingestion runs, whether launched by a sensor, a schedule, ingestctl or the UI."""
    phases = {key for family in families for key in family.phase_keys}
    jobs = {family.ingest_job for family in families} | {family.ingest_job_celery for family in families}
    records = [
        r
        for r in instance.get_run_records(limit=limit * 5)
        if r.dagster_run.job_name in jobs or phases & set(r.dagster_run.asset_selection or ())
    ][:limit]
    runs = []
    for record in records:
        tags = record.dagster_run.tags
        duration = (record.end_time - record.start_time) if record.start_time and record.end_time else None
        runs.append(
            {
                "run_id": record.dagster_run.run_id[:8],
                "source": tags.get(SOURCE_TAG, DEFAULT.source),
                "status": record.dagster_run.status.value,
                "first": tags.get(RANGE_START, tags.get("dagster/partition", "")),
                "last": tags.get(RANGE_END, ""),
                "trigger": tags.get("ingest/trigger", "ui"),
                "seconds": round(duration, 1) if duration is not None else None,
            }
        )
    return runs


def source_summary(instance: dg.DagsterInstance, source: DocumentSource) -> dict[str, Any]:
    """A source's documents per phase and state, and what its last listing skipped."""
    family = Family(source.name)
    keys = registered_partitions(instance, family)
    states: dict[str, dict[str, int]] = {}
    for table, status in zip(TABLES, phase_statuses(instance, keys, family=family).values(), strict=True):
        counts = {name: 0 for name in STATE_NAMES.values()}
        for doc in keys:
            counts[STATE_NAMES[status.get(doc)]] += 1
        states[table] = counts
    listing = SourceListing.latest(instance, family)
    return {
        "location": source.root_dir,
        "documents": len(keys),
        "states": states,
        "skipped_files": (
            {"total": listing.skipped_total, "by_reason": listing.skipped, "summary": listing.summary()}
            if listing is not None
            else None
        ),
    }


def build_report(
    instance: dg.DagsterInstance,
    store: LanceDBStore,
    sources: Sequence[DocumentSource],
    model: EmbeddingModel,
    settings: ReportSettings,
    checks: list[verification.CheckOutcome] | None = None,
) -> dict[str, Any]:
    """The report of every source; `checks` are the table-wide checks when the caller ran them already (the
    asset, which also records them as its check results)."""
    from ingestion_assets.search import SearchUnavailable, search

    families = [Family(source.name) for source in sources]
    by_source = {source.name: source_summary(instance, source) for source in sources}
    states = {table: {name: 0 for name in STATE_NAMES.values()} for table in TABLES}
    for summary in by_source.values():
        for table, counts in summary["states"].items():
            for name, count in counts.items():
                states[table][name] += count
    listed = [summary["skipped_files"] for summary in by_source.values() if summary["skipped_files"] is not None]
    skipped = (
        {
            "total": sum(entry["total"] for entry in listed),
            "by_reason": _summed(entry["by_reason"] for entry in listed),
            "summary": "; ".join(
                (entry["summary"] if len(by_source) == 1 else f"{name}: {entry['summary']}")
                for name, entry in ((n, s["skipped_files"]) for n, s in by_source.items())
                if entry is not None and (entry["total"] or len(by_source) == 1)
            )
            or "no file skipped",
        }
        if listed
        else None
    )
    checks = checks if checks is not None else run_checks(instance, store, sources, model, settings.max_drift_pct)
    queries = []
    for entry in load_sample_queries(settings.sample_queries, settings.sample_min_score):
        try:
            hits = [h for h in search(store, model, entry["query"], k=3) if h.similarity >= entry["min_score"]]
        except SearchUnavailable:
            hits = []
        docs = [h.doc_id for h in hits]
        queries.append(
            {
                **entry,
                "hits": len(hits),
                "top_doc": docs[0] if docs else "",
                "top_score": hits[0].similarity if hits else None,
                "expected_in_top3": (entry["expected_doc"] in docs) if entry["expected_doc"] else None,
            }
        )
    ready = all(c.passed for c in checks) and all(q["hits"] > 0 for q in queries)
    return {
        "ready_for_queries": ready,
        "documents": sum(summary["documents"] for summary in by_source.values()),
        "states": states,
        "sources": by_source,
        "tables": store.table_stats(),
        "checks": [
            {"name": c.name, "passed": c.passed, "summary": c.summary, "offending": c.offending[:20], **c.metadata}
            for c in checks
        ],
        "drift_pct": next(c.metadata["drift_pct"] for c in checks if c.name == "parity"),
        "skipped_files": skipped,
        "held_deletions": current_holds(instance, families),
        "sample_queries": queries,
        "recent_runs": recent_runs(instance, families),
        "model": model.model_id,
        "embedding_backend": _backend(model),
    }


def run_checks(
    instance: dg.DagsterInstance,
    store: LanceDBStore,
    sources: Sequence[DocumentSource],
    model: EmbeddingModel,
    max_drift_pct: float,
) -> list[verification.CheckOutcome]:
    """The four table-wide checks over every source, in the order the report lists them."""
    families = [Family(source.name) for source in sources]
    return [
        verification.parity(instance, store, model.model_id, max_drift_pct, families),
        verification.orphans(instance, store, sources),
        verification.reconcile(instance, store, families),
        verification.vectors(store, model.dimensions),
    ]


def _summed(mappings: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for mapping in mappings:
        for key, value in mapping.items():
            total[key] = total.get(key, 0) + value
    return total


def last_change(instance: dg.DagsterInstance, families: Sequence[Family] = (DEFAULT,)) -> float | None:
    """When ingestion last changed what the report describes: the latest materialisation or failure of a
    phase of any source, or the end of the latest purge (a timestamp), or None before any."""
    times = []
    for key in (key for family in families for key in family.phase_keys):
        materialization = instance.fetch_materializations(key, limit=1).records
        observation = instance.fetch_observations(key, limit=1).records
        times += [r.timestamp for r in (*materialization, *observation)]
    purges = instance.get_run_records(
        filters=dg.RunsFilter(job_name="purge_job", statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
    )
    times += [r.end_time for r in purges if r.end_time]
    return max(times) if times else None


@dataclass(frozen=True)
class MaterializedReport:
    """The latest materialisation of `ingestion_report`: when, and the report it recorded."""

    timestamp: float
    report: dict[str, Any] | None

    @classmethod
    def latest(cls, instance: dg.DagsterInstance) -> MaterializedReport | None:
        records = instance.fetch_materializations(REPORT_KEY, limit=1).records
        if not records:
            return None
        metadata = records[0].asset_materialization.metadata
        value = metadata.get("report_json")
        return cls(records[0].timestamp, value.value if value is not None else None)

    def is_current(self, instance: dg.DagsterInstance, families: Sequence[Family] = (DEFAULT,)) -> bool:
        """Nothing was ingested or purged since it was made."""
        changed = last_change(instance, families)
        return changed is None or changed <= self.timestamp


def _backend(model: EmbeddingModel) -> str:
    """The backend and precision queries are embedded with (the same as ingestion in this process)."""
    encoder = model.load()
    return f"{encoder.backend} {encoder.precision} ({encoder.reason})"


def report_markdown(report: dict[str, Any]) -> str:
    ready = "**yes**" if report["ready_for_queries"] else "**NO**"
    lines = [
        f"ready_for_queries: {ready} — {report['documents']} documents, model `{report['model']}` "
        f"on {report['embedding_backend']}",
        "",
    ]
    for held in report["held_deletions"]:
        lines += [f"**{held}**", ""]
    lines += ["#### Documents per phase and state", ""]
    lines += ["| phase | materialized | failed | in progress | missing |", "|---|---|---|---|---|"]
    for phase, c in report["states"].items():
        lines.append(f"| {phase} | {c['materialized']} | {c['failed']} | {c['in progress']} | {c['missing']} |")
    if len(report.get("sources", {})) > 1:
        lines += ["", "#### Sources", ""]
        lines += ["| source | location | documents | embedded | failed |", "|---|---|---|---|---|"]
        for name, summary in report["sources"].items():
            embedded = summary["states"]["embeddings"]
            lines.append(
                f"| {name} | {summary['location']} | {summary['documents']} | {embedded['materialized']} | "
                f"{embedded['failed']} |"
            )
    lines += ["", "#### LanceDB tables", ""]
    lines += ["| table | rows | version | fragments | indices |", "|---|---|---|---|---|"]
    for name, t in report["tables"].items():
        lines.append(f"| {name} | {t['rows']} | {t['version']} | {t['fragments']} | {t['indices']} |")
    if report["skipped_files"] is not None:
        lines += ["", "#### Files that are not documents", "", report["skipped_files"]["summary"]]
    lines += ["", "#### Checks", ""]
    lines += ["| check | passed | result |", "|---|---|---|"]
    for c in report["checks"]:
        lines.append(f"| {c['name']} | {'yes' if c['passed'] else 'NO'} | {c['summary']} |")
    if report["sample_queries"]:
        lines += ["", "#### Sample queries", ""]
        lines += ["| sample query | hits | top document | score | expected found |", "|---|---|---|---|---|"]
        for q in report["sample_queries"]:
            expected = "-" if q["expected_in_top3"] is None else ("yes" if q["expected_in_top3"] else "no")
            score = "-" if q["top_score"] is None else q["top_score"]
            lines.append(f"| {q['query']} | {q['hits']} | {q['top_doc'] or '-'} | {score} | {expected} |")
    if report["recent_runs"]:
        lines += ["", "#### Recent ingestion runs", ""]
        lines += ["| run | status | documents | trigger | seconds |", "|---|---|---|---|---|"]
        for r in report["recent_runs"]:
            span = f"{r['first']} .. {r['last']}" if r["last"] else (r["first"] or "-")
            seconds = "-" if r["seconds"] is None else r["seconds"]
            lines.append(f"| {r['run_id']} | {r['status']} | {span} | {r['trigger']} | {seconds} |")
    return "\n".join(lines)
