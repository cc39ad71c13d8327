"""Per-document, per-phase state: Dagster's records for status and errors, LanceDB for what the
rows were produced with (staleness) and counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import dagster as dg

from ingestion_assets.keys import DEFAULT, Family
from ingestion_assets.phase_versions import PhaseVersions
from ingestion_assets.records import Status, latest_errors, latest_materialization_times, phase_statuses
from resources.lancedb_store import TABLES, LanceDBStore, StoredVersions

STATE_NAMES = {
    Status.MATERIALIZED: "materialized",
    Status.FAILED: "failed",
    Status.IN_PROGRESS: "in progress",
    None: "missing",
}
PHASES = TABLES
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


def document_statuses(
    instance: dg.DagsterInstance,
    doc_ids: Sequence[str],
    store: LanceDBStore,
    versions: PhaseVersions,
    *,
    materialization_times: bool = True,
    stored: StoredVersions | None = None,
    family: Family = DEFAULT,
) -> list[DocumentStatus]:
    """Status of each document; a materialised phase whose rows were made by another parser,
    tokenizer/chunk size or model than the current code version is reported as `stale`.

    `last_materialized` comes from Dagster's event log (up to DETAILED_LOOKUP_LIMIT documents, and
    only with `materialization_times`), otherwise from the `ingested_at` of the stored rows.
    `stored` is what LanceDB holds of the source, when the caller has read it already.
    """
    statuses = phase_statuses(instance, doc_ids, family=family)
    failed = {key: [d for d, s in statuses[key].items() if s == Status.FAILED] for key in family.phase_keys}
    errors = latest_errors(instance, failed)
    stored = stored if stored is not None else store.stored_versions(family.source)
    detailed = (
        latest_materialization_times(instance, doc_ids, family)
        if materialization_times and len(doc_ids) <= DETAILED_LOOKUP_LIMIT
        else {}
    )
    result = []
    for doc_id in doc_ids:
        stale = versions.stale_tables(stored, doc_id)
        phases = {}
        for name, key in zip(PHASES, family.phase_keys, strict=True):
            state = STATE_NAMES[statuses[key].get(doc_id)]
            phases[name] = "stale" if state == "materialized" and name in stale else state
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
