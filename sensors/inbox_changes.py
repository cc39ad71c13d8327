"""What the inbox sensor does about the source's changes this tick: the listing classified, less what waits.

Everything is derived from the listing, LanceDB's `documents` rows and Dagster's records, so the
sensor cursor carries no per-file state and a restarted daemon loses nothing.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import dagster as dg

from ingestion_assets.deletions import Deletions, known_documents, plan_deletions
from ingestion_assets.keys import Family
from ingestion_assets.planning import classify_listing
from ingestion_assets.records import Status, failure_stamps, phase_statuses, registered_partitions
from ingestion_assets.source_listing import SourceListing
from resources.document_source import DocumentSource
from resources.lancedb_store import CHUNKS, EMBEDDINGS, LanceDBStore
from resources.sources.base import FileChangedWhileReading, SourceFile


@dataclass
class InboxChanges:
    files: int = 0
    new_partitions: list[str] = field(default_factory=list)
    to_ingest: dict[str, str] = field(default_factory=dict)
    """doc_id -> run-key token (content hash and mtime) of files to ingest from scratch."""
    deletions: Deletions | None = None
    """Documents no longer listed: purged now, deferred (maybe renamed), or held by the guard."""
    waiting: list[str] = field(default_factory=list)
    """Files written too recently (debounce) or over this tick's budget: a later tick takes them."""
    partition_order: list[str] = field(default_factory=list)
    listing: SourceListing | None = None
    """The documents and skipped files of this tick's listing."""


def detect_changes(
    instance: dg.DagsterInstance,
    source: DocumentSource,
    store: LanceDBStore,
    debounce_s: float,
    max_docs: int,
) -> InboxChanges:
    """The listing classified (`classify_listing`), less what this sensor leaves for a later tick:
    files still being written, files over the tick's budget, a failed document whose file has not
    changed since it failed, documents with a run in progress."""
    family = Family(source.name)
    changes = InboxChanges()
    scan = source.scan()
    changes.files = len(scan.files)
    changes.listing = SourceListing.of(source.location, scan, family)
    now_ns = time.time_ns()
    settled: list[SourceFile] = []
    for file in scan.files:
        if now_ns - file.mtime_ns < debounce_s * 1e9:
            changes.waiting.append(file.key)
        else:
            settled.append(file)
    existing = registered_partitions(instance, family)
    stored = store.fingerprints(source.name)
    listing = classify_listing(settled, existing, stored, source)
    changes.new_partitions = [f.key for f in listing.new]

    known = [f.key for f in listing.changed]
    documents_key = family.documents_key
    status = phase_statuses(instance, known, [documents_key], family)[documents_key] if known else {}
    failed = [k for k in known if status.get(k) == Status.FAILED and k not in stored]
    failed_at = failure_stamps(instance, failed, family)
    candidates = {f.key for f in listing.new} | set(known)
    for file in (f for f in settled if f.key in candidates):
        if status.get(file.key) == Status.IN_PROGRESS:
            continue
        if failed_at.get(file.key) == (file.size_bytes, file.mtime_ns):
            continue
        if len(changes.to_ingest) >= max_docs:
            changes.waiting.append(file.key)
            continue
        try:
            content_hash = source.content_hash(file.key, file).sha256
        except (FileNotFoundError, FileChangedWhileReading):
            continue  # gone (the next tick drops it) or still being written (a later tick takes it)
        except (OSError, ValueError):
            # Unreadable, access denied or over INGEST_MAX_FILE_MB: its run fails it with the reason.
            content_hash = f"unhashed:{file.size_bytes}:{file.etag or ''}"
        changes.to_ingest[file.key] = hashlib.sha256(f"{content_hash}:{file.mtime_ns}".encode()).hexdigest()[:16]

    known = known_documents(store.stored_documents((CHUNKS, EMBEDDINGS), source.name) | set(stored), existing)
    changes.deletions = plan_deletions(instance, source, scan, stored, known)
    changes.partition_order = existing + changes.new_partitions
    return changes
