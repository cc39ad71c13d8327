"""`ingestctl ingest` and `ingestctl retry`: materialise what is new, changed, unfinished or asked for."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ingestctl.instance import CliContext
from resources.sources.base import SourceUnavailable
from resources.tables import DEFAULT_SOURCE

if TYPE_CHECKING:
    from resources.lancedb_store import StoredVersions
    from resources.sources.base import Scan


def run_ingest(
    path: str | None,
    max_docs_per_run: int | None,
    log_level: str,
    keep_deleted: bool = False,
    as_json: bool = False,
    source_name: str | None = None,
) -> int:
    """Purge what is gone, ingest what is new, changed or unfinished: of every source, of the one named, or of
    PATH (inside a source: that part of it; outside every source: as an ad-hoc default source). Exit 2 when a
    source (or PATH) does not exist or cannot be listed (SourceUnavailable), or when a mass deletion is held.

    With `as_json`, stdout carries only the JSON summary (one source's, or `{"sources": [...]}` for several);
    the lines for people go to stderr."""
    if path:
        targets = [_source_root_for(path, source_name)]
    else:
        names = [source_name] if source_name else CliContext.from_env().source_names
        targets = [Target(name) for name in names]
    outcomes = []
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        for target in targets:
            outcomes.append(_ingest(target, max_docs_per_run, log_level, keep_deleted, show_progress=not as_json))
    exit_code = max(outcome.exit_code for outcome in outcomes)
    if as_json:
        summary = outcomes[0].summary if len(outcomes) == 1 else {"sources": [o.summary for o in outcomes]}
        print(json.dumps({**summary, "exit_code": exit_code}, indent=2))
    return exit_code


@dataclass(frozen=True)
class Target:
    """What one invocation ingests: a source (by name), its root for this invocation, and the key prefix listed."""

    source_name: str = DEFAULT_SOURCE
    override: str | None = None
    """A folder or URL outside every configured source: the default source's root for this invocation."""
    under: str = ""

    def context(self) -> CliContext:
        return CliContext.from_env(source_dir=self.override, source_name=self.source_name)


@dataclass
class IngestOutcome:
    exit_code: int
    summary: dict[str, Any]


def _ingest(
    target: Target, max_docs_per_run: int | None, log_level: str, keep_deleted: bool, show_progress: bool
) -> IngestOutcome:
    cli = target.context()
    under = target.under
    scan = cli.source.scan(under)
    instance = cli.instance
    family = cli.family

    from ingestctl.runs import execute_plans, execute_purge, print_status_table
    from ingestion_assets.planning import plan_work
    from ingestion_assets.records import register_partitions
    from ingestion_assets.run_health import fail_dead_runs
    from ingestion_assets.source_listing import SourceListing
    from ingestion_assets.status import document_statuses

    started = time.perf_counter()
    for rel, reason in scan.rejected:
        print(f"skipped {rel}: {reason}", file=sys.stderr)
    keys = [f.key for f in scan.files]
    named = "" if family.is_default else f" ({family.source})"
    print(
        f"source {cli.source.location}{named}: {len(keys)} document(s); LanceDB {cli.store.uri}; "
        f"DAGSTER_HOME {instance.root_directory}"
    )
    listing = SourceListing.of(cli.source.location, scan, family)
    if listing.skipped:
        print(listing.summary())
    if not under:
        listing.record(instance)

    dead = fail_dead_runs(instance)
    if dead:
        print(f"marked {len(dead)} run(s) whose worker died as failed: {', '.join(dead)}")
    stored = cli.store.stored_versions(family.source)
    deletions = _deletions(cli, scan, stored, whole_root=target.override is not None, keep_deleted=keep_deleted)
    if deletions.held:
        print(deletions.line(), file=sys.stderr)
    execute_purge(instance, deletions.to_purge, log_level, "ingestctl", family.source)
    added = register_partitions(instance, keys, family)
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

    execute_plans(
        instance, work.runs, log_level, "ingestctl", cli.run_config, show_progress=show_progress, family=family
    )
    purged = list(deletions.to_purge)
    if not (deletions.held or deletions.kept):
        execute_purge(instance, deletions.deferred, log_level, "ingestctl", family.source)
        purged += deletions.deferred
    changed_store = bool(work.runs or purged)
    statuses = document_statuses(
        instance,
        keys,
        cli.store,
        cli.versions,
        materialization_times=False,
        stored=None if changed_store else stored,
        family=family,
    )
    print_status_table(statuses)
    failed = [s for s in statuses if not s.ok]
    seconds = time.perf_counter() - started
    print(
        f"{len(statuses) - len(failed)} of {len(statuses)} document(s) fully ingested, {len(failed)} not; {seconds:.1f} s"
    )
    exit_code = 2 if deletions.held else (1 if failed or scan.rejected else 0)
    return IngestOutcome(
        exit_code,
        {
            "source": cli.source.location,
            "source_name": family.source,
            "documents": len(statuses),
            "fully_ingested": len(statuses) - len(failed),
            "processed": len(work.needed),
            "runs": len(work.runs),
            "new_partitions": len(added),
            "failed": [s.to_dict() for s in failed],
            "invalid_names": [{"path": rel, "reason": reason} for rel, reason in scan.rejected],
            "purged": purged,
            "held_deletions": deletions.line() if deletions.held else None,
            "skipped_files": listing.skipped,
            "seconds": round(seconds, 3),
            "exit_code": exit_code,
        },
    )


def run_confirm_deletions(path: str | None, source_name: str | None = None) -> int:
    """Record that the documents a held deletion names were deleted on purpose, for every entry point."""
    target = _source_root_for(path, source_name) if path else Target(source_name or DEFAULT_SOURCE)
    cli = target.context()
    scan = cli.source.scan(target.under)
    from ingestion_assets.deletions import confirm_deletions

    stored = cli.store.stored_versions(cli.source_name)
    deletions = _deletions(cli, scan, stored, whole_root=target.override is not None)
    if not deletions.held:
        print(
            f"no deletion held for {deletions.location}: {len(deletions.vanished)} document(s) no longer listed, "
            "purged as usual by the next listing"
        )
        return 0
    confirm_deletions(cli.instance, deletions)
    print(
        f"confirmed: the {len(deletions.vanished)} document(s) of {deletions.location} no longer listed are purged "
        "by the next `ingestctl ingest`, sensor tick or nightly purge (as long as the same ones are missing)"
    )
    return 0


def _deletions(cli: CliContext, scan: Scan, stored: StoredVersions, whole_root: bool, keep_deleted: bool = False):
    """What `scan` lacks of the documents known in its scope: below its key prefix in the source, or, for a
    PATH outside every source, the stored documents whose URI lies below PATH."""
    from ingestion_assets.deletions import known_documents, plan_deletions
    from ingestion_assets.records import registered_partitions

    if whole_root:
        known = cli.store.documents_under(cli.source.uri_for("").rstrip("/") + "/")
    else:
        known = known_documents(stored.documents, registered_partitions(cli.instance, cli.family), scan.under)
    return plan_deletions(cli.instance, cli.source, scan, stored.fingerprints, known, keep_deleted=keep_deleted or None)


def run_retry(doc_ids: list[str], failed_only: bool, log_level: str) -> int:
    """Re-run the failed phases of failed documents (`--failed`), or every phase of named ones, of every source."""
    context = CliContext.from_env()
    from ingestion_assets.records import registered_partitions
    from ingestion_assets.run_health import fail_dead_runs

    fail_dead_runs(context.instance)
    orders = {
        name: registered_partitions(context.instance, family)
        for name, family in zip(context.source_names, context.families, strict=True)
    }
    known = {doc_id for order in orders.values() for doc_id in order}
    unknown = [d for d in doc_ids if d not in known]
    if unknown:
        print(f"unknown document(s), not registered as partitions: {', '.join(unknown)}", file=sys.stderr)
        return 2
    worst = 0
    for name, order in orders.items():
        asked = [d for d in doc_ids if d in set(order)]
        if failed_only or asked:
            worst = max(worst, _retry(CliContext.from_env(source_name=name), order, asked, failed_only, log_level))
    return worst


def _retry(cli: CliContext, order: list[str], doc_ids: list[str], failed_only: bool, log_level: str) -> int:
    from ingestctl.runs import execute_plans, print_status_table
    from ingestion_assets.planning import plan_runs, plan_work
    from ingestion_assets.records import failed_documents
    from ingestion_assets.status import document_statuses

    instance = cli.instance
    family = cli.family
    max_docs = cli.settings.max_docs_per_run
    if failed_only:
        failed = failed_documents(instance, order, family)
        if not failed:
            return 0
        work = plan_work(
            instance, cli.source.scan().files, cli.store, cli.versions, max_docs, only=failed, source=cli.source
        )
        needed, plans = work.needed, work.runs
    else:
        needed = dict.fromkeys(doc_ids, family.phase_keys)
        plans = plan_runs(order, needed, max_docs)
    named = "" if family.is_default else f" of source {family.source}"
    print(f"{len(needed)} document(s){named} to retry in {len(plans)} run(s)")
    execute_plans(instance, plans, log_level, "ingestctl retry", cli.run_config, family=family)
    statuses = document_statuses(
        instance, sorted(needed, key=order.index), cli.store, cli.versions, materialization_times=False, family=family
    )
    print_status_table(statuses)
    return 0 if all(s.ok for s in statuses) else 1


def _source_root_for(path: str, source_name: str | None = None) -> Target:
    """The source PATH lies in (or `source_name`'s, which must hold it) and the key prefix to scan.

    PATH is a folder or an `s3://bucket/prefix/` URL. One inside a configured source is scanned as part of
    it (same keys); one outside every source becomes the default source's root for this invocation (an
    ad-hoc source). A PATH that does not exist, cannot be listed or has an unsupported scheme raises
    SourceUnavailable.
    """
    context = CliContext.from_env()
    names = [source_name] if source_name else context.source_names
    for name in names:
        under = context.source_named(name).scope(path)
        if under is not None:
            return Target(name, None, under)
    if source_name and source_name != DEFAULT_SOURCE:
        raise SourceUnavailable(
            f"{path} is not inside the source {source_name!r} ({context.source_named(source_name).root_dir})"
        )
    from ingestion_assets.parsing.registry import supported_suffixes

    target = context.settings.override(source_dir=path).literal().document_source(supported_suffixes())
    target.check()
    return Target(DEFAULT_SOURCE, target.location, "")
