"""The Dagster internals this project relies on, fenced in one module (no public form exists in 1.13).

- Ranged runs are requested with the two partition-range tags.
- Materialisations logged as events (not returned outputs) carry the data-version lineage tags
  Dagster itself adds to outputs, so the UI shows fresh/stale per partition.
- The latest materialisation storage id per partition is one event-log query.
- `TableMetadataSet` builds Dagster's standard `dagster/...` table metadata.
- `AssetJob` names the type `define_asset_job` returns.
- `phase_status_sets` reads every phase's partition statuses with the partition keys loaded once
  (the metrics exporter at scale).

The event log that subclasses Dagster's SQLite storage lives in `sqlite_event_log.py`; it is
re-exported here because instances configured before it moved (`dagster.yaml` naming
`ingestion_assets.dagster_compat`) load it from this module.
`tests/test_pipeline.py::test_lineage_tags_keep_the_ui_in_sync` guards this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DATA_VERSION_TAG,
    NULL_EVENT_POINTER,
    get_input_data_version_tag,
    get_input_event_pointer_tag,
)
from dagster._core.definitions.metadata import TableMetadataSet
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition as AssetJob
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from ingestion_assets.sqlite_event_log import SqliteEventLogStorageReusingEngines

if TYPE_CHECKING:
    from ingestion_assets.keys import Family

__all__ = [
    "AssetJob",
    "TableMetadataSet",
    "lineage_tags",
    "latest_materialization_ids",
    "range_tags",
    "RANGE_START",
    "RANGE_END",
    "SqliteEventLogStorageReusingEngines",
]

RANGE_START = ASSET_PARTITION_RANGE_START_TAG
RANGE_END = ASSET_PARTITION_RANGE_END_TAG


def range_tags(first: str, last: str) -> dict[str, str]:
    """Tags of a run over the partitions `first` .. `last` (insertion order)."""
    return {RANGE_START: first, RANGE_END: last}


def latest_materialization_ids(
    instance: dg.DagsterInstance, key: dg.AssetKey, partitions: Iterable[str]
) -> dict[str, int]:
    """Storage id of the latest materialisation of each partition of `key`: one query."""
    return instance.event_log_storage.get_latest_storage_id_by_partition(
        key, dg.DagsterEventType.ASSET_MATERIALIZATION, partitions=set(partitions)
    )


def lineage_tags(
    code_version: str,
    data_version: str,
    upstream: dg.AssetKey | None,
    upstream_version: str | None,
    pointer: int | None,
) -> dict[str, str]:
    """The tags Dagster adds to an output's materialisation: code and data version, and which
    upstream materialisation (data version and event pointer) it was computed from."""
    tags = {CODE_VERSION_TAG: code_version, DATA_VERSION_TAG: data_version}
    if upstream is not None:
        tags[get_input_data_version_tag(upstream)] = upstream_version or ""
        tags[get_input_event_pointer_tag(upstream)] = str(pointer) if pointer else NULL_EVENT_POINTER
    return tags


def phase_status_sets(
    instance: dg.DagsterInstance, family: Family | None = None
) -> tuple[list[str], dict[dg.AssetKey, dict[Any, set[str]]]]:
    """Every registered document, and per phase the documents materialised, failed and in progress, as
    `records.phase_statuses` reads them (a document in progress is not also failed or materialised, a
    failed one not also materialised), but with the partition keys loaded once per scrape instead of once
    for the list and twice per phase (to check that the status cache is for the current keys), which is
    most of a metrics scrape's time on a large instance. It uses the partition loader the webserver uses
    and the status cache `instance.get_status_by_partition` reads; where they are missing (another
    Dagster), the public calls."""
    from ingestion_assets.keys import DEFAULT
    from ingestion_assets.records import Status, phase_statuses, registered_partitions

    family = family or DEFAULT
    partitions = family.partitions

    order = (Status.IN_PROGRESS, Status.FAILED, Status.MATERIALIZED)
    try:
        from dagster._core.instance.types import CachingDynamicPartitionsLoader
        from dagster._core.storage.partition_status_cache import (
            AssetStatusCacheValue,
            get_and_update_asset_status_cache_value,
        )

        loader = CachingDynamicPartitionsLoader(instance)
        keys = list(loader.get_dynamic_partitions(partitions.name))
        registered = set(keys)
        sets: dict[dg.AssetKey, dict[Any, set[str]]] = {}
        for key in family.phase_keys:
            value = get_and_update_asset_status_cache_value(instance, key, partitions, loader)
            sets[key] = {status: set() for status in order}
            if not isinstance(value, AssetStatusCacheValue):
                continue  # never materialised: every document is missing
            subsets = {
                Status.IN_PROGRESS: value.deserialize_in_progress_partition_subsets(partitions),
                Status.FAILED: value.deserialize_failed_partition_subsets(partitions),
                Status.MATERIALIZED: value.deserialize_materialized_partition_subsets(partitions),
            }
            seen: set[str] = set()
            for status in order:
                docs = (set(subsets[status].get_partition_keys()) & registered) - seen
                sets[key][status] = docs
                seen |= docs
        return keys, sets
    except (ImportError, AttributeError, TypeError):  # another Dagster: the public calls
        keys = registered_partitions(instance, family)
        by_doc = phase_statuses(instance, keys, family=family)
        return keys, {
            key: {status: {d for d, s in by_doc[key].items() if s == status} for status in order}
            for key in family.phase_keys
        }
