"""The identity of the ingestion assets: their keys, group and the `documents` partitions."""

import dagster as dg

from resources.lancedb_store import CHUNKS, DOCUMENTS, EMBEDDINGS

DOCUMENTS_KEY = dg.AssetKey(DOCUMENTS)
CHUNKS_KEY = dg.AssetKey(CHUNKS)
EMBEDDINGS_KEY = dg.AssetKey(EMBEDDINGS)
PHASE_KEYS = (DOCUMENTS_KEY, CHUNKS_KEY, EMBEDDINGS_KEY)
"""The three phases of ingestion, in order; each is one LanceDB table of the same name."""
UPSTREAM = {CHUNKS_KEY: DOCUMENTS_KEY, EMBEDDINGS_KEY: CHUNKS_KEY}

SOURCE_FILES_KEY = dg.AssetKey("source_files")
"""The external asset of the source's listing (documents, and skipped files with their reasons)."""
MAINTENANCE_KEY = dg.AssetKey("lancedb_maintenance")
REPORT_KEY = dg.AssetKey("ingestion_report")

GROUP = "ingestion"
POOL = "ingestion"

documents_partitions = dg.DynamicPartitionsDefinition(name="documents")
"""One partition per document; the key is its path relative to the source root."""
SOURCE_DELETIONS_KEY = dg.AssetKey("source_deletions")
"""The external asset of deletions held by the mass-deletion guard, and of their confirmations."""
