"""`ingestctl ingest`: register files as partitions and materialise what is new, changed or unfinished."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import dagster as dg


def resolved(resource):
    """A resource with its `EnvVar` fields resolved, for use outside a run."""
    return resource.process_config_and_initialize()


def run_ingest(path: str | None, max_docs_per_run: int | None, log_level: str) -> int:
    from ingestctl.instance import get_instance

    instance = get_instance()
    if path is not None:
        _point_source_at(Path(path))

    from ingestion_assets.definitions import get_ingest_job
    from ingestion_assets.planning import StoredVersions, phase_statuses, phases_needed, plan_runs, register_partitions
    from ingestion_assets.partitions import documents_partitions
    from ingestion_assets.run_health import fail_dead_runs, host_tags
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
    job = dg.reconstructable(get_ingest_job)
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    for i, plan in enumerate(plans, 1):
        print(f"[run {i}/{len(plans)}] {len(plan.keys)} document(s) {plan.keys[0]!r} .. {plan.keys[-1]!r}: {', '.join(plan.phases)}", flush=True)
        t0 = time.perf_counter()
        with dg.execute_job(
            job, instance=instance, tags={**plan.tags, **host_tags(), "ingest/trigger": "ingestctl"}, asset_selection=list(plan.asset_keys), run_config=run_config
        ) as result:
            outcome = "succeeded" if result.success else "had failures"
            print(f"[run {i}/{len(plans)}] {outcome} in {time.perf_counter() - t0:.1f} s (run id {result.run_id})", flush=True)

    statuses = document_statuses(instance, keys, store)
    _print_table(statuses)
    failed = [s for s in statuses if not s.ok]
    print(
        f"{len(statuses) - len(failed)} of {len(statuses)} document(s) fully ingested, {len(failed)} not; "
        f"{time.perf_counter() - started:.1f} s"
    )
    return 1 if failed or scan.rejected else 0


def _point_source_at(path: Path) -> None:
    """A PATH outside the configured source root becomes the source root for this invocation."""
    from resources.settings import setting

    root = Path(setting("INGEST_SOURCE_DIR")).expanduser().resolve()
    target = path.expanduser().resolve()
    if not target.is_dir():
        raise SystemExit(f"ingestctl ingest: {path} is not a folder")
    if target != root and root not in target.parents:
        os.environ["INGEST_SOURCE_DIR"] = str(target)


def _print_table(statuses) -> None:
    if not statuses:
        return
    width = min(60, max(len(s.doc_id) for s in statuses))
    print(f"{'document':<{width}}  {'reached':<10}  {'chunks':>6}  error")
    for s in statuses:
        chunks = "" if s.chunks is None else str(s.chunks)
        error = (s.error or "").replace("\n", " ")
        print(f"{s.doc_id:<{width}}  {s.reached:<10}  {chunks:>6}  {error}")
