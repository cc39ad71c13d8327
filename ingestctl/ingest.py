"""`ingestctl ingest` and `ingestctl retry`: materialise what is new, changed, unfinished or asked for."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ingestctl.instance import CliContext


def run_ingest(path: str | None, max_docs_per_run: int | None, log_level: str) -> int:
    """Raises SourceUnavailable (exit 2) when the source, or PATH, does not exist or cannot be listed."""
    override, under = _source_root_for(path) if path else (None, None)
    cli = CliContext.from_env(source_dir=override)
    scan = cli.source.scan(under)
    instance = cli.instance

    from ingestctl.runs import execute_plans, print_status_table
    from ingestion_assets.planning import plan_work
    from ingestion_assets.records import register_partitions
    from ingestion_assets.run_health import fail_dead_runs
    from ingestion_assets.source_listing import SourceListing
    from ingestion_assets.status import document_statuses

    for rel, reason in scan.rejected:
        print(f"skipped {rel}: {reason}", file=sys.stderr)
    keys = [f.key for f in scan.files]
    print(
        f"source {cli.source.location}: {len(keys)} document(s); LanceDB {cli.store.uri}; "
        f"DAGSTER_HOME {instance.root_directory}"
    )
    listing = SourceListing.of(cli.source.location, scan)
    if listing.skipped:
        print(listing.summary())
    if under is None or override is not None:
        listing.record(instance)

    dead = fail_dead_runs(instance)
    if dead:
        print(f"marked {len(dead)} run(s) whose worker died as failed: {', '.join(dead)}")
    added = register_partitions(instance, keys)
    stored = cli.store.stored_versions()
    work = plan_work(
        instance,
        scan.files,
        cli.store,
        cli.versions,
        max_docs_per_run or cli.settings.max_docs_per_run,
        source=cli.source,
        stored=stored,
    )
    print(f"{len(added)} new partition(s); {len(work.needed)} document(s) to process in {len(work.runs)} run(s)")

    started = time.perf_counter()
    execute_plans(instance, work.runs, log_level, "ingestctl", cli.run_config)
    statuses = document_statuses(
        instance, keys, cli.store, cli.versions, materialization_times=False, stored=None if work.runs else stored
    )
    print_status_table(statuses)
    failed = [s for s in statuses if not s.ok]
    print(
        f"{len(statuses) - len(failed)} of {len(statuses)} document(s) fully ingested, {len(failed)} not; "
        f"{time.perf_counter() - started:.1f} s"
    )
    return 1 if failed or scan.rejected else 0


def run_retry(doc_ids: list[str], failed_only: bool, log_level: str) -> int:
    """Re-run the failed phases of failed documents (`--failed`), or every phase of named ones."""
    cli = CliContext.from_env()
    instance = cli.instance
    from ingestctl.runs import execute_plans, print_status_table
    from ingestion_assets.keys import PHASE_KEYS
    from ingestion_assets.planning import plan_runs, plan_work
    from ingestion_assets.records import failed_documents, registered_partitions
    from ingestion_assets.run_health import fail_dead_runs
    from ingestion_assets.status import document_statuses

    fail_dead_runs(instance)
    order = registered_partitions(instance)
    known = set(order)
    unknown = [d for d in doc_ids if d not in known]
    if unknown:
        print(f"unknown document(s), not registered as partitions: {', '.join(unknown)}", file=sys.stderr)
        return 2
    max_docs = cli.settings.max_docs_per_run
    if failed_only:
        failed = failed_documents(instance, order)
        work = plan_work(
            instance, cli.source.scan().files, cli.store, cli.versions, max_docs, only=failed, source=cli.source
        )
        needed, plans = work.needed, work.runs
    else:
        needed = dict.fromkeys(doc_ids, PHASE_KEYS)
        plans = plan_runs(order, needed, max_docs)
    print(f"{len(needed)} document(s) to retry in {len(plans)} run(s)")
    execute_plans(instance, plans, log_level, "ingestctl retry", cli.run_config)
    statuses = document_statuses(
        instance, sorted(needed, key=order.index), cli.store, cli.versions, materialization_times=False
    )
    print_status_table(statuses)
    return 0 if all(s.ok for s in statuses) else 1


def _source_root_for(path: str) -> tuple[str | None, Path | str | None]:
    """(the source root for this invocation, or None to keep INGEST_SOURCE_DIR; what to scan, or None for all of it).

    PATH is a folder or an `s3://bucket/prefix/` URL. One inside the configured source is scanned
    as part of it (same keys); one outside becomes the source root for this invocation. A PATH
    that does not exist, cannot be listed or has an unsupported scheme raises SourceUnavailable.
    """
    from ingestion_assets.parsing.registry import supported_suffixes
    from resources.document_source import DocumentSource, SourceUnavailable, is_remote
    from resources.settings import IngestSettings

    configured = DocumentSource(root_dir=IngestSettings.from_env().source_dir, suffixes=supported_suffixes())
    target = DocumentSource(root_dir=path, suffixes=supported_suffixes())
    if is_remote(path):
        url = target.object_store().url
        if configured.is_object_store:
            try:
                inside = configured.relative_prefix(url) is not None
            except SourceUnavailable:
                inside = False
            if inside:
                return None, (None if configured.relative_prefix(url) == "" else url)
        return url, url
    target.check()
    folder = target.root
    if not configured.is_object_store:
        root = configured.root
        if folder == root:
            return None, None
        if root in folder.parents:
            return None, folder
    return str(folder), folder
