"""`ingestctl ingest` and `ingestctl retry`: materialise what is new, changed, unfinished or asked for."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ingestctl.instance import get_instance, resolved


def run_ingest(path: str | None, max_docs_per_run: int | None, log_level: str) -> int:
    instance = get_instance()
    if path is not None:
        _point_source_at(Path(path))

    from ingestctl.runs import execute_plans, print_status_table
    from ingestion_assets.partitions import documents_partitions
    from ingestion_assets.planning import StoredVersions, phase_statuses, phases_needed, plan_runs, register_partitions
    from ingestion_assets.run_health import fail_dead_runs
    from ingestion_assets.status import document_statuses
    from resources.document_source import document_source_from_env
    from resources.lancedb_store import lancedb_store_from_env
    from resources.settings import setting

    source = resolved(document_source_from_env())
    store = resolved(lancedb_store_from_env())
    scan = source.scan(Path(path).resolve() if path else None)
    for rel, reason in scan.rejected:
        print(f"skipped {rel}: {reason}", file=sys.stderr)
    keys = [f.key for f in scan.files]
    print(f"source {source.root}: {len(keys)} document(s); LanceDB {store.uri}; DAGSTER_HOME {os.environ['DAGSTER_HOME']}")

    dead = fail_dead_runs(instance)
    if dead:
        print(f"marked {len(dead)} run(s) whose worker died as failed: {', '.join(dead)}")
    added = register_partitions(instance, keys)
    needed = phases_needed(scan.files, phase_statuses(instance, keys), StoredVersions.read(store))
    order = instance.get_dynamic_partitions(documents_partitions.name)
    plans = plan_runs(order, needed, max_docs_per_run or int(setting("INGEST_MAX_DOCS_PER_RUN")))
    print(f"{len(added)} new partition(s); {len(needed)} document(s) to process in {len(plans)} run(s)")

    started = time.perf_counter()
    execute_plans(instance, plans, log_level, "ingestctl")
    statuses = document_statuses(instance, keys, store)
    print_status_table(statuses)
    failed = [s for s in statuses if not s.ok]
    print(
        f"{len(statuses) - len(failed)} of {len(statuses)} document(s) fully ingested, {len(failed)} not; "
        f"{time.perf_counter() - started:.1f} s"
    )
    return 1 if failed or scan.rejected else 0


def run_retry(doc_ids: list[str], failed_only: bool, log_level: str) -> int:
    """Re-run the failed phases of failed documents (`--failed`), or every phase of named ones."""
    instance = get_instance()
    from ingestctl.runs import execute_plans, print_status_table
    from ingestion_assets.assets import PHASE_KEYS
    from ingestion_assets.partitions import documents_partitions
    from ingestion_assets.planning import Status, StoredVersions, phase_statuses, phases_needed, plan_runs
    from ingestion_assets.run_health import fail_dead_runs
    from ingestion_assets.status import document_statuses
    from resources.document_source import document_source_from_env
    from resources.lancedb_store import lancedb_store_from_env
    from resources.settings import setting

    source = resolved(document_source_from_env())
    store = resolved(lancedb_store_from_env())
    fail_dead_runs(instance)
    order = instance.get_dynamic_partitions(documents_partitions.name)
    known = set(order)
    unknown = [d for d in doc_ids if d not in known]
    if unknown:
        print(f"unknown document(s), not registered as partitions: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if failed_only:
        statuses = phase_statuses(instance, order)
        targets = {d for key in PHASE_KEYS for d, s in statuses[key].items() if s == Status.FAILED}
        files = [f for f in source.scan().files if f.key in targets]
        needed = phases_needed(files, {k: statuses[k] for k in PHASE_KEYS}, StoredVersions.read(store))
        needed = {d: phases for d, phases in needed.items() if d in targets}
    else:
        needed = {d: PHASE_KEYS for d in doc_ids}
    plans = plan_runs(order, needed, int(setting("INGEST_MAX_DOCS_PER_RUN")))
    print(f"{len(needed)} document(s) to retry in {len(plans)} run(s)")
    execute_plans(instance, plans, log_level, "ingestctl retry")
    statuses = document_statuses(instance, sorted(needed, key=order.index), store)
    print_status_table(statuses)
    return 0 if all(s.ok for s in statuses) else 1


def _point_source_at(path: Path) -> None:
    """A PATH outside the configured source root becomes the source root for this invocation."""
    from resources.settings import setting

    root = Path(setting("INGEST_SOURCE_DIR")).expanduser().resolve()
    target = path.expanduser().resolve()
    if not target.is_dir():
        raise SystemExit(f"ingestctl ingest: {path} is not a folder")
    if target != root and root not in target.parents:
        os.environ["INGEST_SOURCE_DIR"] = str(target)
