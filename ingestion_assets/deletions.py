"""Documents whose file vanished from the source: which to purge now, which wait for a rename, and the guard
that holds a mass deletion until a user confirms it.

The inbox sensor, the nightly purge and `ingestctl ingest` decide with `plan_deletions` and purge
with `purge_job` (`purge_documents`), so a deletion means the same whichever of them sees it. A
hold and its confirmation are observations of the external asset `source_deletions`, so every
entry point, the report and the UI read the same state from the instance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace

import dagster as dg

from ingestion_assets.keys import DEFAULT, Family
from resources.document_source import DocumentSource
from resources.lancedb_store import CHUNKS, EMBEDDINGS, Fingerprint, LanceDBStore
from resources.sources.base import Scan

RECORDS_READ = 200
"""Latest `source_deletions` observations read to find a location's state and confirmations."""


def source_deletions_spec(family: Family) -> dg.AssetSpec:
    """The external asset of a source's held deletions and their confirmations."""
    return dg.AssetSpec(
        family.source_deletions_key,
        description=(
            f"Deletions from the source `{family.source}` held by the mass-deletion guard (a listing that suddenly "
            "lacks most of the known documents: an unmounted share, a wrong prefix, an emptied bucket; or a "
            "listing known to be incomplete, such as a site answering errors) and their confirmations by "
            "`ingestctl confirm-deletions`. While a deletion is held, nothing of it is purged; new and changed "
            "files are still ingested."
        ),
        group_name=family.group,
        kinds={"source"},
    )


@dataclass(frozen=True)
class DeletionGuard:
    """Hold when the listing is empty while the source had documents, or when more than `share` of the
    known documents and more than `count` of them vanish at once."""

    share: float = 0.5
    count: int = 10

    @classmethod
    def of(cls, source: DocumentSource) -> DeletionGuard:
        return cls(source.deletion_guard_share, source.deletion_guard_count)

    def holds(self, known: int, vanished: int, listed: int) -> bool:
        if vanished == 0:
            return False
        if listed == 0:
            return True
        return vanished > self.share * known and vanished > self.count


@dataclass(frozen=True)
class Deletions:
    """What one listing of `location` (below the key prefix `under`) lacks of the documents known there."""

    location: str
    under: str
    known: int
    vanished: list[str] = field(default_factory=list)
    """Documents (stored rows or partitions) whose file is no longer listed, sorted."""
    deferred: list[str] = field(default_factory=list)
    """Vanished documents of the size of an incoming file: maybe renamed, so their parse and vectors are
    reused by the new name and they are purged once it is ingested."""
    held: bool = False
    kept: bool = False
    """The source keeps deleted documents (`keep_deleted`)."""
    incomplete: str = ""
    """Why the listing may lack documents that still exist (then any deletion is held)."""
    family: Family = DEFAULT

    @property
    def digest(self) -> str:
        """What a confirmation names: this location, scope and set of vanished documents."""
        text = "\n".join([self.location, self.under, *self.vanished])
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def to_purge(self) -> list[str]:
        if self.held or self.kept:
            return []
        deferred = set(self.deferred)
        return [doc_id for doc_id in self.vanished if doc_id not in deferred]

    def line(self) -> str:
        """The one line every entry point shows about a hold."""
        where = self.location + (f" (below {self.under})" if self.under else "")
        examples = ", ".join(self.vanished[:3]) + (", ..." if len(self.vanished) > 3 else "")
        why = f" and the listing is incomplete ({self.incomplete})" if self.incomplete else ""
        return (
            f"deletions held for {where}: {len(self.vanished)} of {self.known} known document(s) are no longer "
            f"listed ({examples}){why}; nothing of them is purged. If they were deleted on purpose, run "
            "`ingestctl confirm-deletions`; if the source is unmounted or misconfigured, fix it."
        )


def known_documents(stored: Iterable[str], registered: Iterable[str], under: str = "") -> set[str]:
    """The documents of a source below a key prefix: those with rows in any table (`stored`), or a partition."""
    known = set(stored) | set(registered)
    return {doc_id for doc_id in known if doc_id.startswith(under)} if under else known


def plan_deletions(
    instance: dg.DagsterInstance,
    source: DocumentSource,
    scan: Scan,
    stored: Mapping[str, Fingerprint],
    known: Collection[str],
    *,
    keep_deleted: bool | None = None,
) -> Deletions:
    """The documents of `known` that `scan` no longer lists, held or not by the guard and its confirmations;
    the hold (or its end) is recorded in the instance. `stored` holds the fingerprints of the stored documents."""
    listed = scan.keys
    vanished = sorted(d for d in known if d not in listed)
    incoming_sizes = {f.size_bytes for f in scan.files if f.key not in stored}
    deferred = [d for d in vanished if d in stored and stored[d].size_bytes in incoming_sizes]
    kept = source.keep_deleted if keep_deleted is None else keep_deleted
    family = Family(source.name)
    plan = Deletions(source.location, scan.under, len(known), vanished, deferred, kept=kept, family=family)
    if kept:
        return plan
    guarded = DeletionGuard.of(source).holds(len(known), len(vanished), len(scan.files))
    if guarded or (scan.incomplete and vanished):
        records = DeletionRecords.read(instance, plan.location, plan.under, family)
        if plan.digest not in records.confirmed:
            plan = replace(plan, held=True, incomplete=scan.incomplete)
            if records.held != plan.digest:
                instance.report_runless_asset_event(_observation(plan, "held"))
            return plan
    if DeletionRecords.read(instance, plan.location, plan.under, family).held:
        instance.report_runless_asset_event(_observation(plan, "released"))
    return plan


def plan_source_deletions(
    instance: dg.DagsterInstance, source: DocumentSource, store: LanceDBStore, scan: Scan
) -> Deletions:
    """`plan_deletions` for a listing of `source`: the documents known are those of this source with rows in any
    table or a partition, below the listing's prefix."""
    stored = store.fingerprints(source.name)
    in_tables = store.stored_documents((CHUNKS, EMBEDDINGS), source.name) | set(stored)
    registered = instance.get_dynamic_partitions(Family(source.name).partitions.name)
    return plan_deletions(instance, source, scan, stored, known_documents(in_tables, registered, scan.under))


def confirm_deletions(instance: dg.DagsterInstance, plan: Deletions) -> None:
    """Record that the vanished documents of `plan` were deleted on purpose: the next listing that finds
    exactly them missing purges them."""
    instance.report_runless_asset_event(_observation(plan, "confirmed"))


@dataclass(frozen=True)
class DeletionRecords:
    """The recorded state of one location and scope: the digest of its current hold, and the digests confirmed."""

    held: str | None = None
    held_line: str | None = None
    confirmed: frozenset[str] = frozenset()

    @classmethod
    def read(
        cls, instance: dg.DagsterInstance, location: str, under: str = "", family: Family = DEFAULT
    ) -> DeletionRecords:
        records = instance.fetch_observations(family.source_deletions_key, limit=RECORDS_READ).records
        held: str | None = None
        held_line: str | None = None
        state_seen = False
        confirmed: set[str] = set()
        for record in records:
            observation = record.asset_observation
            if observation is None:
                continue
            values = {name: value.value for name, value in observation.metadata.items()}
            if values.get("location") != location or values.get("under", "") != under:
                continue
            if values.get("state") == "confirmed":
                confirmed.add(str(values["digest"]))
            elif not state_seen:
                state_seen = True
                if values.get("state") == "held":
                    held, held_line = str(values["digest"]), str(values.get("line", ""))
        return cls(held, held_line, frozenset(confirmed))


def current_holds(instance: dg.DagsterInstance, families: Iterable[Family] = (DEFAULT,)) -> list[str]:
    """The line of every deletion held now (of any of these sources, location or scope), as its hold recorded it."""
    lines: list[str] = []
    for family in families:
        lines.extend(_holds(instance, family))
    return lines


def _holds(instance: dg.DagsterInstance, family: Family) -> list[str]:
    seen: set[tuple[str, str]] = set()
    lines: list[str] = []
    for record in instance.fetch_observations(family.source_deletions_key, limit=RECORDS_READ).records:
        observation = record.asset_observation
        if observation is None:
            continue
        values = {name: value.value for name, value in observation.metadata.items()}
        scope = (str(values.get("location")), str(values.get("under", "")))
        if values.get("state") == "confirmed" or scope in seen:
            continue
        seen.add(scope)
        if values.get("state") == "held":
            lines.append(str(values.get("line", "")))
    return lines


def _observation(plan: Deletions, state: str) -> dg.AssetObservation:
    return dg.AssetObservation(
        asset_key=plan.family.source_deletions_key,
        description=plan.line() if state == "held" else None,
        metadata={
            "state": state,
            "location": plan.location,
            "under": plan.under,
            "digest": plan.digest,
            "known": plan.known,
            "vanished": len(plan.vanished),
            "line": plan.line(),
        },
    )


def purge(
    instance: dg.DagsterInstance, store: LanceDBStore, doc_ids: Collection[str], family: Family = DEFAULT
) -> dict[str, int]:
    """Delete every row of a source's `doc_ids` (one commit per table, embeddings first), then their partitions."""
    deleted = store.delete_documents(doc_ids)
    name = family.partitions.name
    registered = set(instance.get_dynamic_partitions(name))
    for doc_id in sorted(set(doc_ids) & registered):
        instance.delete_dynamic_partition(name, doc_id)
    return deleted
