"""`ingestctl status`, `search` and `report`: views of the instance and the store (a report is made when none is current)."""

from __future__ import annotations

import json
import sys
import time

from ingestctl.instance import CliContext


def run_status(doc_ids: list[str], as_json: bool, failed_only: bool, source_name: str | None = None) -> int:
    started = time.perf_counter()
    context = CliContext.from_env()
    instance = context.instance
    from ingestctl.runs import print_status_table
    from ingestion_assets.deletions import current_holds
    from ingestion_assets.records import registered_partitions
    from ingestion_assets.status import document_statuses, summarize

    families = [f for f in context.families if source_name in (None, f.source)]
    if not families:
        print(f"ingestctl status: no source named {source_name!r}; sources: {', '.join(context.source_names)}")
        return 2
    statuses = []
    for family in families:
        registered = registered_partitions(instance, family)
        keys = [d for d in doc_ids if d in set(registered)] if doc_ids else registered
        if keys:
            statuses += document_statuses(instance, keys, context.store, context.versions, family=family)
    if failed_only:
        statuses = [s for s in statuses if "failed" in s.phases.values()]
    summary = summarize(statuses)
    held = current_holds(instance, families)
    if as_json:
        print(
            json.dumps(
                {"documents": [s.to_dict() for s in statuses], "summary": summary, "held_deletions": held}, indent=2
            )
        )
    else:
        print_status_table(statuses, show_phases=True)
        parts = [
            f"{phase}: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
            for phase, counts in summary.items()
        ]
        print(f"{len(statuses)} document(s) — " + "; ".join(parts) + f" ({time.perf_counter() - started:.2f} s)")
        for line in held:  # their files are gone, their rows stay until the deletion is confirmed
            print(line, file=sys.stderr)
    return 0


def run_skipped(as_json: bool, source_name: str | None = None) -> int:
    """The skipped files of each source's last recorded listing (its sensor's or `ingestctl ingest`'s)."""
    from datetime import UTC, datetime

    from ingestion_assets.source_listing import MAX_NAMES, SourceListing

    context = CliContext.from_env()
    families = [f for f in context.families if source_name in (None, f.source)]
    listings = [listing for f in families if (listing := SourceListing.latest(context.instance, f)) is not None]
    if not listings:
        print("no listing recorded yet: run `ingestctl ingest` or let the sensor tick", file=sys.stderr)
        return 0
    if as_json:
        entries = [json.loads(listing.as_json()) for listing in listings]
        print(json.dumps(entries[0] if len(entries) == 1 else {"sources": entries}))
        return 0
    for listing in listings:
        when = datetime.fromtimestamp(listing.observed_at or 0, UTC).isoformat(timespec="seconds")
        print(f"listing of {listing.location} at {when}: {listing.documents} document(s); {listing.summary(0)}")
        for reason, names in listing.names.items():
            for name in names:
                print(f"{reason:<20} {name}")
            if listing.skipped[reason] > len(names):
                print(
                    f"{reason:<20} ... and {listing.skipped[reason] - len(names)} more (the first {MAX_NAMES} are kept)"
                )
        for name in listing.invalid_names:
            print(f"{'invalid name':<20} {name}")
    return 0


def run_search(
    query: str,
    k: int,
    mode: str | None,
    as_json: bool,
    source_name: str | None = None,
    documents: bool = False,
    passages: int = 3,
) -> int:
    """`ingestctl search`: the best passages for `query` by `mode` (None: the default mode), or with `documents`
    the best documents, each with up to `passages` of its best passages."""
    from ingestion_assets.search import SEARCH_MODES, DocumentHit, Hit, SearchUnavailable, search, search_documents

    cli = CliContext.from_env()
    if mode is not None and mode not in SEARCH_MODES:
        print(f"ingestctl search: no search mode {mode!r}; modes: {', '.join(SEARCH_MODES)}", file=sys.stderr)
        return 2
    if source_name is not None and source_name not in cli.source_names:
        print(f"ingestctl search: no source named {source_name!r}; sources: {', '.join(cli.source_names)}")
        return 2
    try:
        found: list[DocumentHit] | list[Hit] = (
            search_documents(cli.store, cli.embedder, query, k, passages, source=source_name, mode=mode)
            if documents
            else search(cli.store, cli.embedder, query, k, source=source_name, mode=mode)
        )
    except SearchUnavailable as exc:
        print(f"ingestctl search: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps([r.to_dict() for r in found], indent=2, ensure_ascii=False))
        return 0

    def place(hit: Hit) -> str:
        return hit.pages + (f"  § {hit.section}" if hit.section else "")

    for rank, result in enumerate(found, 1):
        if isinstance(result, DocumentHit):
            print(f"{rank:>2}. {result.score:.4f}  {result.doc_id}" + (f"  {result.title}" if result.title else ""))
            for hit in result.passages:
                print(f"      {place(hit)}\n        {hit.snippet()}")
        else:
            print(f"{rank:>2}. {result.score:.4f}  {result.doc_id}  {place(result)}\n    {result.snippet()}")
    if not found:
        print("no hits")
    return 0


def run_report(as_json: bool, refresh: bool = False) -> int:
    """The latest materialised report when nothing was ingested since; otherwise, or with `refresh`, a new
    one (materialised by a run of `report_job` in this process, so the UI shows it too)."""
    cli = CliContext.from_env()
    instance = cli.instance
    from ingestion_assets.report import MaterializedReport, report_markdown

    latest = MaterializedReport.latest(instance)
    if refresh or latest is None or latest.report is None:
        from ingestctl.runs import execute_report

        if not execute_report(instance):
            print("ingestctl report: the report run failed (see the run in the UI)", file=sys.stderr)
            return 1
        latest = MaterializedReport.latest(instance)
        assert latest is not None and latest.report is not None
    elif not latest.is_current(instance, cli.families):
        made = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(latest.timestamp))
        print(
            f"ingestctl report: this report was made at {made}, before the last ingestion or purge; "
            "`ingestctl report --refresh` makes a new one",
            file=sys.stderr,
        )
    report = latest.report
    print(json.dumps(report, indent=2, default=str) if as_json else report_markdown(report))
    return 0 if report["ready_for_queries"] else 1
