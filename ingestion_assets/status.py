"""Per-document, per-phase state read back from Dagster's records (and LanceDB for counts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg

from ingestion_assets.assets import PHASE_KEYS
from ingestion_assets.planning import Status, phase_statuses
from resources.lancedb_store import CHUNKS, LanceDBStore

STATE_NAMES = {
    Status.MATERIALIZED: "materialized",
    Status.FAILED: "failed",
    Status.IN_PROGRESS: "in progress",
    None: "missing",
}


@dataclass
class DocumentStatus:
    doc_id: str
    phases: dict[str, str]
    chunks: int | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def reached(self) -> str:
        """The last phase materialized in order, or `-`."""
        reached = "-"
        for phase in (k.to_user_string() for k in PHASE_KEYS):
            if self.phases[phase] != "materialized":
                break
            reached = phase
        return reached

    @property
    def ok(self) -> bool:
        return all(state == "materialized" for state in self.phases.values())


def latest_errors(instance: dg.DagsterInstance, failed: dict[dg.AssetKey, list[str]]) -> dict[str, str]:
    """The error message of the latest failure observation of each failed partition."""
    errors: dict[str, str] = {}
    for key, doc_ids in failed.items():
        if not doc_ids:
            continue
        records = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=list(doc_ids)), limit=max(100, 4 * len(doc_ids))
        ).records
        for record in records:
            observation = record.asset_observation
            if observation is None or observation.partition in errors:
                continue
            message = observation.metadata.get("error")
            if message is not None:
                errors[observation.partition] = f"[{key.to_user_string()}] {message.value}"
    return errors


def document_statuses(
    instance: dg.DagsterInstance, doc_ids: Sequence[str], store: LanceDBStore | None = None
) -> list[DocumentStatus]:
    statuses = phase_statuses(instance, doc_ids)
    failed = {key: [d for d, s in statuses[key].items() if s == Status.FAILED] for key in PHASE_KEYS}
    errors = latest_errors(instance, failed)
    chunk_counts: dict[str, int] = {}
    if store is not None:
        rows = store.read(CHUNKS, ["doc_id"])
        if rows.num_rows:
            counts = rows.group_by("doc_id").aggregate([("doc_id", "count")])
            chunk_counts = dict(zip(counts.column("doc_id").to_pylist(), counts.column("doc_id_count").to_pylist()))
    result = []
    for doc_id in doc_ids:
        phases = {key.to_user_string(): STATE_NAMES[statuses[key].get(doc_id)] for key in PHASE_KEYS}
        chunks = chunk_counts.get(doc_id, 0) if phases["chunks"] == "materialized" else None
        result.append(DocumentStatus(doc_id, phases, chunks, errors.get(doc_id)))
    return result
