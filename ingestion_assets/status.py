"""Per-document, per-phase state: Dagster's records for status and errors, LanceDB for what the
rows were produced with (staleness) and counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import dagster as dg

from ingestion_assets.assets import CHUNKER_VERSION, MODEL_ID, PHASE_KEYS
from ingestion_assets.parsing import PARSER_VERSION
from ingestion_assets.planning import Status, phase_statuses
from resources.lancedb_store import CHUNKS, DOCUMENTS, EMBEDDINGS, LanceDBStore

STATE_NAMES = {
    Status.MATERIALIZED: "materialized",
    Status.FAILED: "failed",
    Status.IN_PROGRESS: "in progress",
    None: "missing",
}
PHASES = tuple(k.to_user_string() for k in PHASE_KEYS)
DETAILED_LOOKUP_LIMIT = 500
"""Up to this many documents, the time of the last materialisation is read from Dagster's event log."""


@dataclass
class DocumentStatus:
    doc_id: str
    phases: dict[str, str]
    chunks: int | None = None
    last_materialized: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def reached(self) -> str:
        """The last phase materialized in order, or `-`."""
        reached = "-"
        for phase in PHASES:
            if self.phases[phase] not in ("materialized", "stale"):
                break
            reached = phase
        return reached

    @property
    def ok(self) -> bool:
        return all(state == "materialized" for state in self.phases.values())

    def to_dict(self) -> dict:
        return asdict(self)


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


def _latest_materializations(instance: dg.DagsterInstance, doc_ids: Sequence[str]) -> dict[str, float]:
    latest: dict[str, float] = {}
    for key in PHASE_KEYS:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=list(doc_ids)), limit=4 * len(doc_ids) + 10
        ).records
        for record in records:
            partition = record.partition_key
            if partition is not None:
                latest[partition] = max(latest.get(partition, 0.0), record.timestamp)
    return latest


def _stored_state(store: LanceDBStore) -> tuple[dict[str, tuple], dict[str, tuple[int, set]], dict[str, set]]:
    """Per document: (ingested_at, parser_version, warnings); (chunk count, chunkers); embedding models."""
    docs = store.read(DOCUMENTS, ["doc_id", "ingested_at", "parser_version", "warnings"])
    documents = {}
    if docs.num_rows:
        documents = {
            d: (t, p, w)
            for d, t, p, w in zip(
                *(docs.column(c).to_pylist() for c in ("doc_id", "ingested_at", "parser_version", "warnings")),
                strict=True,
            )
        }
    chunks: dict[str, tuple[int, set]] = {}
    rows = store.read(CHUNKS, ["doc_id", "chunker"])
    if rows.num_rows:
        grouped = rows.group_by(["doc_id", "chunker"]).aggregate([("doc_id", "count")])
        for d, c, n in zip(*(grouped.column(x).to_pylist() for x in ("doc_id", "chunker", "doc_id_count")), strict=True):
            count, versions = chunks.get(d, (0, set()))
            chunks[d] = (count + n, versions | {c})
    models: dict[str, set] = {}
    rows = store.read(EMBEDDINGS, ["doc_id", "model"])
    if rows.num_rows:
        grouped = rows.group_by(["doc_id", "model"]).aggregate([])
        for d, m in zip(grouped.column("doc_id").to_pylist(), grouped.column("model").to_pylist(), strict=True):
            models.setdefault(d, set()).add(m)
    return documents, chunks, models


def document_statuses(
    instance: dg.DagsterInstance, doc_ids: Sequence[str], store: LanceDBStore | None = None
) -> list[DocumentStatus]:
    """Status of each document; a materialised phase whose rows were made by another parser,
    tokenizer/chunk size or model than the current code version is reported as `stale`."""
    statuses = phase_statuses(instance, doc_ids)
    failed = {key: [d for d, s in statuses[key].items() if s == Status.FAILED] for key in PHASE_KEYS}
    errors = latest_errors(instance, failed)
    documents, chunks, models = _stored_state(store) if store is not None else ({}, {}, {})
    detailed = _latest_materializations(instance, doc_ids) if len(doc_ids) <= DETAILED_LOOKUP_LIMIT else {}
    result = []
    for doc_id in doc_ids:
        phases = {key.to_user_string(): STATE_NAMES[statuses[key].get(doc_id)] for key in PHASE_KEYS}
        stale = {
            "documents": doc_id in documents and documents[doc_id][1] != PARSER_VERSION,
            "chunks": bool(chunks.get(doc_id, (0, set()))[1] - {CHUNKER_VERSION}),
            "embeddings": bool(models.get(doc_id, set()) - {MODEL_ID}),
        }
        for phase, is_stale in stale.items():
            if is_stale and phases[phase] == "materialized":
                phases[phase] = "stale"
        count = chunks.get(doc_id, (0, set()))[0] if phases["chunks"] in ("materialized", "stale") else None
        if doc_id in detailed:
            when = datetime.fromtimestamp(detailed[doc_id], timezone.utc)
        else:
            when = documents.get(doc_id, (None,))[0]
        last = when.isoformat(timespec="seconds") if when else None
        warnings = list(documents.get(doc_id, (None, None, None))[2] or [])
        result.append(DocumentStatus(doc_id, phases, count, last, errors.get(doc_id), warnings))
    return result


def summarize(statuses: Sequence[DocumentStatus]) -> dict[str, dict[str, int]]:
    summary = {phase: {} for phase in PHASES}
    for status in statuses:
        for phase, state in status.phases.items():
            summary[phase][state] = summary[phase].get(state, 0) + 1
    return summary
