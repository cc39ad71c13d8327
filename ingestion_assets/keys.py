"""The identity of the ingestion assets: per source, its family of keys, partitions, group, jobs and sensor names.

The default source keeps the names it always had (`documents`, `chunks`, `embeddings`, the
`documents` partitions, `ingest_job`, `inbox_sensor`), so existing instances keep their history.
A named source `handbook` gets `handbook/documents`..., partitions `handbook__documents`, the
asset group `handbook`, and document ids `handbook:<key>`, unique across sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import dagster as dg

from resources.tables import DEFAULT_SOURCE, DOCUMENTS, TABLES, doc_id_for, key_for

SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
RESERVED_SOURCE_NAMES = frozenset({DEFAULT_SOURCE, "ingestion", "source", "sources"})

MAINTENANCE_KEY = dg.AssetKey("lancedb_maintenance")
REPORT_KEY = dg.AssetKey("ingestion_report")
GROUP = "ingestion"
POOL = "ingestion"
SOURCE_TAG = "ingest/source"
"""The run tag naming the source a run ingests or purges."""


def check_source_name(name: str) -> str:
    """`name` if it can name a source (asset key prefix, group, job and partition names), else ValueError."""
    if not SOURCE_NAME.match(name) or name in RESERVED_SOURCE_NAMES:
        raise ValueError(
            f"source name {name!r}: expected lowercase letters, digits and _ (starting with a letter, at most 40), "
            f"not one of {sorted(RESERVED_SOURCE_NAMES)}"
        )
    return name


@dataclass(frozen=True)
class Family:
    """The assets of one source: `documents -> chunks -> embeddings`, its partitions and the names of what runs them."""

    source: str = DEFAULT_SOURCE

    @property
    def is_default(self) -> bool:
        return self.source == DEFAULT_SOURCE

    def _named(self, name: str, separator: str = "_") -> str:
        return name if self.is_default else f"{self.source}{separator}{name}"

    def _key(self, name: str) -> dg.AssetKey:
        return dg.AssetKey(name) if self.is_default else dg.AssetKey([self.source, name])

    @cached_property
    def phase_keys(self) -> tuple[dg.AssetKey, dg.AssetKey, dg.AssetKey]:
        """The three phases of ingestion, in order; each writes the LanceDB table of its last name."""
        documents, chunks, embeddings = (self._key(name) for name in TABLES)
        return documents, chunks, embeddings

    @property
    def documents_key(self) -> dg.AssetKey:
        return self.phase_keys[0]

    @property
    def chunks_key(self) -> dg.AssetKey:
        return self.phase_keys[1]

    @property
    def embeddings_key(self) -> dg.AssetKey:
        return self.phase_keys[2]

    def phase_key(self, table: str) -> dg.AssetKey:
        """The asset of the phase that writes `table`."""
        return self.phase_keys[TABLES.index(table)]

    @cached_property
    def upstream(self) -> dict[dg.AssetKey, dg.AssetKey]:
        documents, chunks, embeddings = self.phase_keys
        return {chunks: documents, embeddings: chunks}

    @cached_property
    def partitions(self) -> dg.DynamicPartitionsDefinition:
        """One partition per document; the key is its document id."""
        return dg.DynamicPartitionsDefinition(name=self._named(DOCUMENTS, "__"))

    @property
    def source_files_key(self) -> dg.AssetKey:
        """The external asset of the source's listing (documents, and skipped files with their reasons)."""
        return self._key("source_files")

    @property
    def source_deletions_key(self) -> dg.AssetKey:
        """The external asset of deletions held by the mass-deletion guard, and of their confirmations."""
        return self._key("source_deletions")

    @property
    def group(self) -> str:
        return GROUP if self.is_default else self.source

    @property
    def resource_key(self) -> str:
        """The key of this source's `DocumentSource` resource."""
        return self._named("source")

    @property
    def ingest_job(self) -> str:
        return self._named("ingest_job")

    @property
    def ingest_job_celery(self) -> str:
        return self._named("ingest_job_celery")

    @property
    def sensor(self) -> str:
        return "inbox_sensor" if self.is_default else f"{self.source}_sensor"

    @property
    def nightly_backfill(self) -> str:
        return self._named("nightly_backfill")

    def doc_id(self, key: str) -> str:
        """The document id (and partition key) of the source's key `key`."""
        return doc_id_for(self.source, key)

    def key_of(self, doc_id: str) -> str:
        """The source's key of the document `doc_id`."""
        return key_for(self.source, doc_id)


DEFAULT = Family()
DOCUMENTS_KEY, CHUNKS_KEY, EMBEDDINGS_KEY = DEFAULT.phase_keys
PHASE_KEYS = DEFAULT.phase_keys
"""The phases of the default source, whose keys are those of the first release."""
UPSTREAM = DEFAULT.upstream
SOURCE_FILES_KEY = DEFAULT.source_files_key
SOURCE_DELETIONS_KEY = DEFAULT.source_deletions_key
documents_partitions = DEFAULT.partitions
