"""What needs to run: classify the source's listing against what is stored, and cut the work into ranged runs.

Dagster's per-partition status says which phases succeeded; the LanceDB rows say with which
file content, parser, chunker and model. A ranged run covers a contiguous span of partitions in
insertion order, so a run is a maximal span of documents that need the same phases. The inbox
sensor classifies with `classify_listing`; the nightly backfill, `ingestctl ingest` and
`ingestctl retry` plan with `plan_work`, which classifies the same way. What is no longer listed
is `ingestion_assets/deletions.py`'s.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Sequence
from dataclasses import dataclass, field

import dagster as dg

from ingestion_assets.dagster_compat import range_tags
from ingestion_assets.keys import DEFAULT, Family
from ingestion_assets.phase_versions import PhaseVersions
from ingestion_assets.records import PhaseStatuses, Status, phase_statuses, registered_partitions
from resources.document_source import DocumentSource
from resources.lancedb_store import Fingerprint, LanceDBStore, StoredVersions
from resources.sources.base import SourceFile
from resources.tables import CHUNKS, DOCUMENTS, EMBEDDINGS


@dataclass(frozen=True)
class RunPlan:
    keys: tuple[str, ...]
    asset_keys: tuple[dg.AssetKey, ...]

    @property
    def tags(self) -> dict[str, str]:
        return range_tags(self.keys[0], self.keys[-1])

    @property
    def phases(self) -> list[str]:
        return [k.to_user_string() for k in self.asset_keys]

    def run_request(self, job_name: str, tags: dict[str, str], run_key: str | None = None) -> dg.RunRequest:
        return dg.RunRequest(
            job_name=job_name,
            run_key=run_key,
            asset_selection=list(self.asset_keys),
            asset_check_keys=[],
            tags={**self.tags, **tags},
        )


@dataclass(frozen=True)
class WorkPlan:
    """The documents that need work, the phases each needs, and the runs that do it."""

    needed: dict[str, tuple[dg.AssetKey, ...]]
    runs: list[RunPlan]


def content_changed(file: SourceFile, stored: Fingerprint | None, source: DocumentSource) -> bool:
    """Size and mtime first; only when they differ is the content hashed (a touch changes nothing).

    For an object the listing's ETag comes next: an object whose ETag and size were already hashed
    by this process is not downloaded again (`DocumentSource.content_hash`).
    """
    if stored is None:
        return True
    if file.size_bytes == stored.size_bytes and file.mtime_ns // 1000 == stored.mtime:
        return False
    if file.size_bytes != stored.size_bytes:
        return True
    return source.content_hash(file.key, file).sha256 != stored.content_hash


def changed_or_unreadable(file: SourceFile, stored: Fingerprint | None, source: DocumentSource) -> bool:
    """`content_changed`, counting a document that cannot be hashed now as changed: its run then
    fails it with the reason (gone, denied, too large) instead of the planning failing."""
    try:
        return content_changed(file, stored, source)
    except (OSError, ValueError):
        return True


@dataclass
class ListingChanges:
    """The listed files against Dagster's partitions and the stored documents (what is gone is
    `ingestion_assets/deletions.py`'s to decide)."""

    new: list[SourceFile] = field(default_factory=list)
    """Listed files without a partition."""
    changed: list[SourceFile] = field(default_factory=list)
    """Listed files with a partition but no stored row, or whose content changed (or cannot be read now)."""
    unchanged: list[SourceFile] = field(default_factory=list)


def classify_listing(
    files: Sequence[SourceFile],
    registered: Collection[str],
    stored: dict[str, Fingerprint],
    source: DocumentSource,
) -> ListingChanges:
    """Classify `files` as new, changed or unchanged."""
    changes = ListingChanges()
    partitions = set(registered)
    for file in files:
        if file.key not in partitions:
            changes.new.append(file)
        elif changed_or_unreadable(file, stored.get(file.key), source):
            changes.changed.append(file)
        else:
            changes.unchanged.append(file)
    return changes


def phases_needed(
    files: Sequence[SourceFile],
    changed: Container[str],
    statuses: PhaseStatuses,
    stored: StoredVersions,
    versions: PhaseVersions,
    family: Family = DEFAULT,
) -> dict[str, tuple[dg.AssetKey, ...]]:
    """The phases each document needs: from the first one that is missing, failed or stale; every
    phase for a `changed` file. Documents with a run in progress are left alone."""
    phase_keys = family.phase_keys
    documents_key, chunks_key, embeddings_key = phase_keys
    needed: dict[str, tuple[dg.AssetKey, ...]] = {}
    for file in files:
        status = {k: statuses[k].get(file.key) for k in phase_keys}
        if Status.IN_PROGRESS in status.values():
            continue
        stale = versions.stale_tables(stored, file.key)
        if status[documents_key] != Status.MATERIALIZED or DOCUMENTS in stale or file.key in changed:
            needed[file.key] = phase_keys
        elif status[chunks_key] != Status.MATERIALIZED or CHUNKS in stale:
            needed[file.key] = (chunks_key, embeddings_key)
        elif status[embeddings_key] != Status.MATERIALIZED or EMBEDDINGS in stale:
            needed[file.key] = (embeddings_key,)
    return needed


def plan_runs(
    partition_order: Sequence[str], needed: dict[str, tuple[dg.AssetKey, ...]], max_docs_per_run: int
) -> list[RunPlan]:
    """Cut the needed work into ranged runs: contiguous spans with the same phases, at most N documents."""
    plans: list[RunPlan] = []
    span: list[str] = []
    span_phases: tuple[dg.AssetKey, ...] | None = None
    for key in partition_order:
        phases = needed.get(key)
        if span and (phases != span_phases or len(span) >= max_docs_per_run):
            plans.append(RunPlan(tuple(span), span_phases))
            span = []
        if phases:
            span.append(key)
            span_phases = phases
    if span:
        plans.append(RunPlan(tuple(span), span_phases))
    return plans


def plan_work(
    instance: dg.DagsterInstance,
    files: Sequence[SourceFile],
    store: LanceDBStore,
    versions: PhaseVersions,
    max_docs_per_run: int,
    only: Container[str] | None = None,
    *,
    source: DocumentSource,
    stored: StoredVersions | None = None,
) -> WorkPlan:
    """Scan result -> phases needed per registered document -> ranged runs, for the source `source`.

    `only` restricts the plan to some documents (e.g. those with a failed phase); `stored` is what
    LanceDB holds of the source, when the caller has read it already.
    """
    family = Family(source.name)
    order = registered_partitions(instance, family)
    registered = set(order)
    files = [f for f in files if f.key in registered and (only is None or f.key in only)]
    stored = stored if stored is not None else store.stored_versions(source.name)
    listing = classify_listing(files, registered, stored.fingerprints, source)
    changed = {f.key for f in listing.changed}
    statuses = phase_statuses(instance, [f.key for f in files], family=family)
    needed = phases_needed(files, changed, statuses, stored, versions, family)
    return WorkPlan(needed, plan_runs(order, needed, max_docs_per_run))
