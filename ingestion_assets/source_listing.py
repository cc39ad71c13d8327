"""What the last listing of the source found: its documents, and every other file with the reason it is skipped.

The sensors and `ingestctl ingest` record each listing as an observation of the source's external
asset `source_files`, so `ingestctl status --skipped`, the report and the UI read it without
listing a folder or a bucket again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import dagster as dg

from ingestion_assets.keys import DEFAULT, Family
from resources.sources.base import Scan
from resources.sources.naming import SKIP_REASONS

T = TypeVar("T")

MAX_NAMES = 200
"""Skipped files named per reason (the counts are always complete)."""


def source_files_spec(family: Family) -> dg.AssetSpec:
    """The external asset of a source's listings."""
    return dg.AssetSpec(
        family.source_files_key,
        description=(
            f"The files under the document source `{family.source}`: observed at every listing by its sensor and "
            "`ingestctl ingest`, with the number of documents and of files that are not documents, per reason "
            "(unsupported type, hidden, partial upload, excluded by pattern, not a regular file), naming them."
        ),
        group_name=family.group,
        kinds={"source"},
    )


@dataclass
class SourceListing:
    location: str
    documents: int
    skipped: dict[str, int] = field(default_factory=dict)
    """Files that are not documents, per reason."""
    names: dict[str, list[str]] = field(default_factory=dict)
    """The first MAX_NAMES skipped files of each reason."""
    invalid_names: list[str] = field(default_factory=list)
    """Files whose name cannot be a partition key (they fail the run that lists them)."""
    observed_at: float | None = None
    family: Family = DEFAULT

    @classmethod
    def of(cls, location: str, scan: Scan, family: Family = DEFAULT) -> SourceListing:
        counts = Counter(reason for _, reason in scan.skipped)
        names: dict[str, list[str]] = {}
        for rel, reason in scan.skipped:
            listed = names.setdefault(reason, [])
            if len(listed) < MAX_NAMES:
                listed.append(rel)
        invalid = [rel for rel, _ in scan.rejected]
        return cls(location, len(scan.files), _by_reason(counts), _by_reason(names), invalid, family=family)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def observation(self) -> dg.AssetObservation:
        return dg.AssetObservation(
            asset_key=self.family.source_files_key,
            metadata={
                "location": self.location,
                "documents": self.documents,
                "skipped": self.skipped_total,
                "skipped_by_reason": dg.MetadataValue.json(self.skipped),
                "skipped_files": dg.MetadataValue.json(self.names),
                "invalid_names": dg.MetadataValue.json(self.invalid_names),
            },
        )

    def is_news(self, instance: dg.DagsterInstance) -> bool:
        """Whether this listing differs from the last one recorded (an unchanged one is not recorded again)."""
        latest = SourceListing.latest(instance, self.family)
        return latest is None or self.observation().metadata != latest.observation().metadata

    def record(self, instance: dg.DagsterInstance) -> None:
        """Record this listing, unless it is the same as the last one recorded."""
        if self.is_news(instance):
            instance.report_runless_asset_event(self.observation())

    @classmethod
    def latest(cls, instance: dg.DagsterInstance, family: Family = DEFAULT) -> SourceListing | None:
        records = instance.fetch_observations(family.source_files_key, limit=1).records
        if not records or records[0].asset_observation is None:
            return None
        values = {name: value.value for name, value in records[0].asset_observation.metadata.items()}
        return cls(
            str(values["location"]),
            int(values["documents"]),
            _by_reason(values["skipped_by_reason"]),
            _by_reason({reason: list(names) for reason, names in values["skipped_files"].items()}),
            list(values["invalid_names"]),
            records[0].timestamp,
            family,
        )

    def summary(self, examples: int = 3) -> str:
        """One line: `7 file(s) skipped: 4 unsupported type (a.exe, b.zip, c.tar, ...), 3 hidden (.git/, ...)`."""
        if not self.skipped:
            return "no file skipped"
        parts = []
        for reason, count in self.skipped.items():
            shown = self.names.get(reason, [])[:examples]
            more = ", ..." if count > len(shown) else ""
            parts.append(f"{count} {reason} ({', '.join(shown)}{more})" if shown else f"{count} {reason}")
        return f"{self.skipped_total} file(s) skipped: " + "; ".join(parts)

    def as_json(self) -> str:
        return json.dumps(
            {
                "location": self.location,
                "documents": self.documents,
                "skipped": self.skipped,
                "skipped_files": self.names,
                "invalid_names": self.invalid_names,
            }
        )


def _by_reason(values: Mapping[str, T]) -> dict[str, T]:
    """`values` in the order of SKIP_REASONS (JSON metadata comes back with sorted keys)."""
    rank = {reason: i for i, reason in enumerate(SKIP_REASONS)}
    return {reason: values[reason] for reason in sorted(values, key=lambda r: (rank.get(r, len(rank)), r))}
