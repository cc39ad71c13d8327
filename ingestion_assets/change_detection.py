"""What changed in the source since it was last ingested: the inbox sensor's decision.

Everything is derived from the folder, LanceDB's `documents` rows and Dagster's records, so
the sensor cursor carries no per-file state and a restarted daemon loses nothing.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import dagster as dg

from ingestion_assets.keys import DOCUMENTS_KEY
from ingestion_assets.planning import (
    Status,
    content_changed,
    failure_fingerprints,
    phase_statuses,
    registered_partitions,
    stored_fingerprints,
)
from resources.document_source import DocumentSource, FileChangedWhileReading, SourceFile
from resources.lancedb_store import LanceDBStore


@dataclass
class InboxChanges:
    files: int = 0
    new_partitions: list[str] = field(default_factory=list)
    to_ingest: dict[str, str] = field(default_factory=dict)
    """doc_id -> run-key token (content hash and mtime) of files to ingest from scratch."""
    gone_partitions: list[str] = field(default_factory=list)
    to_purge: list[str] = field(default_factory=list)
    deferred_purge: list[str] = field(default_factory=list)
    """Deleted documents whose content reappeared under another name: their parse is reused first."""
    waiting: list[str] = field(default_factory=list)
    """Files written too recently (debounce) or over this tick's budget: a later tick takes them."""
    partition_order: list[str] = field(default_factory=list)


def _changed(file: SourceFile, fingerprint: list, source: DocumentSource) -> bool:
    """Whether a stored document's file changed; one that cannot be hashed now counts as changed
    (it is then hashed again below, and skipped if still unreadable)."""
    try:
        return content_changed(file, fingerprint, source)
    except (OSError, ValueError):
        return True


def detect_changes(
    instance: dg.DagsterInstance,
    source: DocumentSource,
    store: LanceDBStore,
    debounce_s: float,
    max_docs: int,
) -> InboxChanges:
    changes = InboxChanges()
    scan = source.scan()
    changes.files = len(scan.files)
    now_ns = time.time_ns()
    existing = registered_partitions(instance)
    partitions = set(existing)
    stored = stored_fingerprints(store)

    candidates: list[SourceFile] = []
    for file in scan.files:
        if now_ns - file.mtime_ns < debounce_s * 1e9:
            changes.waiting.append(file.key)
            continue
        if file.key not in partitions:
            changes.new_partitions.append(file.key)
            candidates.append(file)
            continue
        fingerprint = stored.get(file.key)
        if fingerprint is None or _changed(file, fingerprint, source):
            candidates.append(file)

    known = [f.key for f in candidates if f.key in partitions]
    status = phase_statuses(instance, known, [DOCUMENTS_KEY])[DOCUMENTS_KEY] if known else {}
    failed = [k for k in known if status.get(k) == Status.FAILED and k not in stored]
    failed_at = failure_fingerprints(instance, failed)
    incoming: dict[str, str] = {}
    for file in candidates:
        state = status.get(file.key)
        if state == Status.IN_PROGRESS:
            continue
        if file.key in failed_at and failed_at[file.key] == (file.size_bytes, file.mtime_ns):
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
        else:
            incoming[file.key] = content_hash
        changes.to_ingest[file.key] = hashlib.sha256(f"{content_hash}:{file.mtime_ns}".encode()).hexdigest()[:16]

    present = {f.key for f in scan.files} | {rel for rel, _ in scan.rejected}
    changes.gone_partitions = [k for k in existing if k not in present]
    incoming_contents = set(incoming.values())
    for doc_id, fingerprint in stored.items():
        if doc_id in present:
            continue
        (changes.deferred_purge if fingerprint[2] in incoming_contents else changes.to_purge).append(doc_id)
    changes.partition_order = [k for k in existing if k not in set(changes.gone_partitions)] + changes.new_partitions
    return changes
