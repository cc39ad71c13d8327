"""Per-document, per-phase state: Dagster's records for status and errors, LanceDB for what the
rows were produced with (staleness) and counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import dagster as dg

from ingestion_assets.keys import PHASE_KEYS
from ingestion_assets.phase_versions import PhaseVersions
from ingestion_assets.planning import Status, latest_observations, phase_statuses
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
        for doc_id, metadata in latest_observations(instance, key, doc_ids).items():
            if doc_id not in errors and metadata.get("error") is not None:
                errors[doc_id] = f"[{key.to_user_string()}] {metadata['error']}"
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


@dataclass
class StoredState:
    """What LanceDB holds per document, read column-wise (fast at 100,000 documents)."""

    ingested_at: dict[str, str]
    stale_parse: set[str]
    warnings: dict[str, list[str]]
    chunk_counts: dict[str, int]
    stale_chunks: set[str]
    stale_vectors: set[str]

    @classmethod
    def read(cls, store: LanceDBStore, versions: PhaseVersions) -> StoredState:
        import pyarrow.compute as pc

        docs = store.read(DOCUMENTS, ["doc_id", "ingested_at", "parser_version", "warnings"])
        ingested_at: dict[str, str] = {}
        stale_parse: set[str] = set()
        warnings: dict[str, list[str]] = {}
        if docs.num_rows:
            ids = docs.column("doc_id")
            when = pc.strftime(docs.column("ingested_at"), format="%Y-%m-%dT%H:%M:%S+00:00")
            ingested_at = dict(zip(ids.to_pylist(), when.to_pylist(), strict=True))
            stale_parse = set(ids.filter(pc.not_equal(docs.column("parser_version"), versions.parser)).to_pylist())
            has_warnings = pc.fill_null(pc.greater(pc.list_value_length(docs.column("warnings")), 0), False)
            with_warnings = docs.filter(has_warnings)
            warnings = dict(
                zip(
                    with_warnings.column("doc_id").to_pylist(),
                    with_warnings.column("warnings").to_pylist(),
                    strict=True,
                )
            )
        chunk_counts: dict[str, int] = {}
        stale_chunks: set[str] = set()
        rows = store.read(CHUNKS, ["doc_id", "chunker"])
        if rows.num_rows:
            counts = rows.group_by("doc_id").aggregate([("doc_id", "count")])
            chunk_counts = dict(
                zip(counts.column("doc_id").to_pylist(), counts.column("doc_id_count").to_pylist(), strict=True)
            )
            stale_chunks = set(
                rows.filter(pc.not_equal(rows.column("chunker"), versions.chunker))
                .column("doc_id")
                .unique()
                .to_pylist()
            )
        stale_vectors: set[str] = set()
        rows = store.read(EMBEDDINGS, ["doc_id", "model"])
        if rows.num_rows:
            stale_vectors = set(
                rows.filter(pc.not_equal(rows.column("model"), versions.model)).column("doc_id").unique().to_pylist()
            )
        return cls(ingested_at, stale_parse, warnings, chunk_counts, stale_chunks, stale_vectors)


def document_statuses(
    instance: dg.DagsterInstance,
    doc_ids: Sequence[str],
    store: LanceDBStore,
    versions: PhaseVersions,
    *,
    materialization_times: bool = True,
) -> list[DocumentStatus]:
    """Status of each document; a materialised phase whose rows were made by another parser,
    tokenizer/chunk size or model than the current code version is reported as `stale`.

    `last_materialized` comes from Dagster's event log (up to DETAILED_LOOKUP_LIMIT documents, and
    only with `materialization_times`), otherwise from the `ingested_at` of the stored rows.
    """
    statuses = phase_statuses(instance, doc_ids)
    failed = {key: [d for d, s in statuses[key].items() if s == Status.FAILED] for key in PHASE_KEYS}
    errors = latest_errors(instance, failed)
    stored = StoredState.read(store, versions)
    detailed = (
        _latest_materializations(instance, doc_ids)
        if materialization_times and len(doc_ids) <= DETAILED_LOOKUP_LIMIT
        else {}
    )
    by_phase = [
        (name, statuses[key], stale)
        for name, key, stale in zip(
            PHASES, PHASE_KEYS, (stored.stale_parse, stored.stale_chunks, stored.stale_vectors), strict=True
        )
    ]
    result = []
    for doc_id in doc_ids:
        phases = {}
        for name, status, stale in by_phase:
            state = STATE_NAMES[status.get(doc_id)]
            phases[name] = "stale" if state == "materialized" and doc_id in stale else state
        count = stored.chunk_counts.get(doc_id, 0) if phases["chunks"] in ("materialized", "stale") else None
        if doc_id in detailed:
            last = datetime.fromtimestamp(detailed[doc_id], UTC).isoformat(timespec="seconds")
        else:
            last = stored.ingested_at.get(doc_id)
        result.append(DocumentStatus(doc_id, phases, count, last, errors.get(doc_id), stored.warnings.get(doc_id, [])))
    return result


def summarize(statuses: Sequence[DocumentStatus]) -> dict[str, dict[str, int]]:
    summary = {phase: {} for phase in PHASES}
    for status in statuses:
        for phase, state in status.phases.items():
            summary[phase][state] = summary[phase].get(state, 0) + 1
    return summary
