"""What Dagster's records say per document: its partition, each phase's status, failures and materialisation times."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import dagster as dg

from ingestion_assets.keys import DEFAULT, Family

PARTITION_ADD_CHUNK = 2000
"""SQLite refuses statements with too many variables (dagster#16260): add keys in chunks."""

Status = dg.AssetPartitionStatus
PhaseStatuses = dict[dg.AssetKey, dict[str, Status | None]]


class FileStamp(NamedTuple):
    """Size and mtime of a file, as recorded when its `documents` phase failed."""

    size_bytes: int
    mtime_ns: int


def registered_partitions(instance: dg.DagsterInstance, family: Family = DEFAULT) -> list[str]:
    """Every document partition of a source, in insertion order (the order ranges follow)."""
    return list(instance.get_dynamic_partitions(family.partitions.name))


def register_partitions(instance: dg.DagsterInstance, keys: Iterable[str], family: Family = DEFAULT) -> list[str]:
    """Add partitions for keys Dagster does not know yet; returns the added keys."""
    existing = set(registered_partitions(instance, family))
    new = [k for k in dict.fromkeys(keys) if k not in existing]
    for i in range(0, len(new), PARTITION_ADD_CHUNK):
        instance.add_dynamic_partitions(family.partitions.name, new[i : i + PARTITION_ADD_CHUNK])
    return new


def phase_statuses(
    instance: dg.DagsterInstance,
    keys: Sequence[str],
    asset_keys: Sequence[dg.AssetKey] | None = None,
    family: Family = DEFAULT,
) -> PhaseStatuses:
    """Dagster's status of the phases (all, or `asset_keys`) of a source's documents: one query per phase."""
    return {
        key: dict(instance.get_status_by_partition(key, list(keys), family.partitions) or {})
        for key in (asset_keys or family.phase_keys)
    }


def failed_documents(instance: dg.DagsterInstance, keys: Sequence[str], family: Family = DEFAULT) -> set[str]:
    """Documents with at least one failed phase."""
    statuses = phase_statuses(instance, keys, family=family)
    return {doc for by_doc in statuses.values() for doc, status in by_doc.items() if status == Status.FAILED}


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


def failure_stamps(
    instance: dg.DagsterInstance, doc_ids: Sequence[str], family: Family = DEFAULT
) -> dict[str, FileStamp]:
    """Size and mtime of each file when its `documents` phase last failed.

    The inbox sensor does not retry a failed document until its file changes; the nightly
    backfill and `ingestctl retry` do.
    """
    return {
        doc_id: FileStamp(metadata.get("size_bytes", -1), metadata.get("mtime_ns", -1))
        for doc_id, metadata in latest_observations(instance, family.documents_key, doc_ids).items()
    }


def latest_errors(instance: dg.DagsterInstance, failed: dict[dg.AssetKey, list[str]]) -> dict[str, str]:
    """The error message of the latest failure observation of each failed partition, prefixed by its phase."""
    errors: dict[str, str] = {}
    for key, doc_ids in failed.items():
        for doc_id, metadata in latest_observations(instance, key, doc_ids).items():
            if doc_id not in errors and metadata.get("error") is not None:
                errors[doc_id] = f"[{key.to_user_string()}] {metadata['error']}"
    return errors


def latest_materialization_times(
    instance: dg.DagsterInstance, doc_ids: Sequence[str], family: Family = DEFAULT
) -> dict[str, float]:
    """Timestamp of the latest materialisation of any phase of each document."""
    latest: dict[str, float] = {}
    for key in family.phase_keys:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=list(doc_ids)), limit=4 * len(doc_ids) + 10
        ).records
        for record in records:
            partition = record.partition_key
            if partition is not None:
                latest[partition] = max(latest.get(partition, 0.0), record.timestamp)
    return latest
