"""What needs to run: compare the source, LanceDB and Dagster's records, and cut the work into ranged runs.

Dagster's per-partition status says which phases succeeded; the LanceDB rows say with which
file content, parser, chunker and model. A ranged run covers a contiguous span of partitions in
insertion order, so a run is a maximal span of documents that need the same phases. The
nightly backfill, `ingestctl ingest` and `ingestctl retry` all plan with `plan_work`.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa

from ingestion_assets.dagster_compat import range_tags
from ingestion_assets.keys import DOCUMENTS_KEY, PHASE_KEYS, documents_partitions
from ingestion_assets.phase_versions import PhaseVersions
from resources.document_source import DocumentSource, SourceFile
from resources.lancedb_store import CHUNKS, DOCUMENTS, EMBEDDINGS, LanceDBStore

PARTITION_ADD_CHUNK = 2000
"""SQLite refuses statements with too many variables (dagster#16260): add keys in chunks."""

Status = dg.AssetPartitionStatus
PhaseStatuses = dict[dg.AssetKey, dict[str, Status | None]]


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


def registered_partitions(instance: dg.DagsterInstance) -> list[str]:
    """Every document partition, in insertion order (the order ranges follow)."""
    return list(instance.get_dynamic_partitions(documents_partitions.name))


def register_partitions(instance: dg.DagsterInstance, keys: Iterable[str]) -> list[str]:
    """Add partitions for keys Dagster does not know yet; returns the added keys."""
    existing = set(registered_partitions(instance))
    new = [k for k in dict.fromkeys(keys) if k not in existing]
    for i in range(0, len(new), PARTITION_ADD_CHUNK):
        instance.add_dynamic_partitions(documents_partitions.name, new[i : i + PARTITION_ADD_CHUNK])
    return new


def phase_statuses(
    instance: dg.DagsterInstance, keys: Sequence[str], asset_keys: Sequence[dg.AssetKey] = PHASE_KEYS
) -> PhaseStatuses:
    """Dagster's status of every phase of every document: one query per phase, not one per document."""
    return {
        key: dict(instance.get_status_by_partition(key, list(keys), documents_partitions) or {}) for key in asset_keys
    }


def latest_observations(
    instance: dg.DagsterInstance, key: dg.AssetKey, partitions: Sequence[str]
) -> dict[str, dict[str, object]]:
    """Metadata values of the latest observation of each partition (failures record theirs)."""
    if not partitions:
        return {}
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=list(partitions)), limit=4 * len(partitions) + 100
    ).records
    latest: dict[str, dict[str, object]] = {}
    for record in records:
        observation = record.asset_observation
        if observation is None or observation.partition in latest:
            continue
        latest[observation.partition] = {name: value.value for name, value in observation.metadata.items()}
    return latest


def failure_fingerprints(instance: dg.DagsterInstance, doc_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of each file when its `documents` phase last failed.

    The inbox sensor does not retry a failed document until its file changes; the nightly
    backfill and `ingestctl retry` do.
    """
    return {
        doc_id: (metadata.get("size_bytes", -1), metadata.get("mtime_ns", -1))
        for doc_id, metadata in latest_observations(instance, DOCUMENTS_KEY, doc_ids).items()
    }


@dataclass(frozen=True)
class StoredVersions:
    """What LanceDB holds per document: file fingerprint and the versions that produced the rows."""

    fingerprints: dict[str, list]
    """doc_id -> [size_bytes, mtime in µs, content_hash, parser_version]"""
    chunkers: dict[str, set[str]]
    models: dict[str, set[str]]

    @classmethod
    def read(cls, store: LanceDBStore) -> StoredVersions:
        return cls(
            stored_fingerprints(store), _distinct(store, CHUNKS, "chunker"), _distinct(store, EMBEDDINGS, "model")
        )


def stored_fingerprints(store: LanceDBStore) -> dict[str, list]:
    """doc_id -> [size_bytes, mtime in µs, content_hash, parser_version] of every stored document."""
    docs = store.read(DOCUMENTS, ["doc_id", "size_bytes", "mtime", "content_hash", "parser_version"])
    if not docs.num_rows:
        return {}
    columns = [
        docs.column("doc_id").to_pylist(),
        docs.column("size_bytes").to_pylist(),
        docs.column("mtime").cast(pa.int64()).to_pylist(),
        docs.column("content_hash").to_pylist(),
        docs.column("parser_version").to_pylist(),
    ]
    return {doc_id: rest for doc_id, *rest in zip(*columns, strict=True)}


def _distinct(store: LanceDBStore, table: str, column: str) -> dict[str, set[str]]:
    rows = store.read(table, ["doc_id", column])
    if rows.num_rows == 0:
        return {}
    grouped = rows.group_by(["doc_id", column]).aggregate([])
    result: dict[str, set[str]] = {}
    for doc_id, value in zip(grouped.column("doc_id").to_pylist(), grouped.column(column).to_pylist(), strict=True):
        result.setdefault(doc_id, set()).add(value)
    return result


def content_changed(file: SourceFile, stored: list | None, source: DocumentSource) -> bool:
    """Size and mtime first; only when they differ is the content hashed (a touch changes nothing).

    For an object the listing's ETag comes next: an object whose ETag and size were already hashed
    by this process is not downloaded again (`DocumentSource.content_hash`).
    """
    if stored is None:
        return True
    size, mtime_us, content_hash, _ = stored
    if file.size_bytes == size and file.mtime_ns // 1000 == mtime_us:
        return False
    if file.size_bytes != size:
        return True
    return source.content_hash(file.key, file).sha256 != content_hash


def _changed_or_unreadable(file: SourceFile, stored: list | None, source: DocumentSource) -> bool:
    """`content_changed`, counting a document that cannot be hashed now as changed: its run then
    fails it with the reason (gone, denied, too large) instead of the planning failing."""
    try:
        return content_changed(file, stored, source)
    except (OSError, ValueError):
        return True


def phases_needed(
    files: Sequence[SourceFile],
    statuses: PhaseStatuses,
    stored: StoredVersions,
    versions: PhaseVersions,
    source: DocumentSource,
) -> dict[str, tuple[dg.AssetKey, ...]]:
    """The phases each document needs: from the first one that is missing, failed or stale.

    Documents with a run in progress are left alone.
    """
    documents_key, chunks_key, embeddings_key = PHASE_KEYS
    needed: dict[str, tuple[dg.AssetKey, ...]] = {}
    for file in files:
        status = {k: statuses[k].get(file.key) for k in PHASE_KEYS}
        if Status.IN_PROGRESS in status.values():
            continue
        fingerprint = stored.fingerprints.get(file.key)
        if (
            status[documents_key] != Status.MATERIALIZED
            or fingerprint is None
            or fingerprint[3] != versions.parser
            or _changed_or_unreadable(file, fingerprint, source)
        ):
            needed[file.key] = PHASE_KEYS
        elif status[chunks_key] != Status.MATERIALIZED or stored.chunkers.get(file.key, {versions.chunker}) != {
            versions.chunker
        }:
            needed[file.key] = (chunks_key, embeddings_key)
        elif status[embeddings_key] != Status.MATERIALIZED or stored.models.get(file.key, {versions.model}) != {
            versions.model
        }:
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
) -> WorkPlan:
    """Scan result -> phases needed per registered document -> ranged runs.

    `only` restricts the plan to some documents (e.g. those with a failed phase).
    """
    order = registered_partitions(instance)
    registered = set(order)
    files = [f for f in files if f.key in registered and (only is None or f.key in only)]
    statuses = phase_statuses(instance, [f.key for f in files])
    needed = phases_needed(files, statuses, StoredVersions.read(store), versions, source)
    return WorkPlan(needed, plan_runs(order, needed, max_docs_per_run))


def failed_documents(instance: dg.DagsterInstance, keys: Sequence[str]) -> set[str]:
    """Documents with at least one failed phase."""
    statuses = phase_statuses(instance, keys)
    return {doc for by_doc in statuses.values() for doc, status in by_doc.items() if status == Status.FAILED}
