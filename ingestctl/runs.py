"""Executing planned ranged runs in this process, on the DAGSTER_HOME instance."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import dagster as dg

from ingestion_assets.planning import RunPlan


def execute_plans(
    instance: dg.DagsterInstance,
    plans: Sequence[RunPlan],
    log_level: str,
    trigger: str,
    run_config: dict[str, Any] | None = None,
) -> list[bool]:
    """Execute each plan as one ranged run of `ingest_job`; `run_config` configures its resources."""
    if not plans:
        return []
    from ingestctl.collector import resume_for_work
    from ingestion_assets.definitions import get_ingest_job
    from ingestion_assets.run_health import in_process_tags

    job = dg.reconstructable(get_ingest_job)
    run_config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": log_level}}}}
    outcomes = []
    resume_for_work()
    for i, plan in enumerate(plans, 1):
        print(
            f"[run {i}/{len(plans)}] {len(plan.keys)} document(s) {plan.keys[0]!r} .. {plan.keys[-1]!r}: "
            f"{', '.join(plan.phases)}",
            flush=True,
        )
        started = time.perf_counter()
        with dg.execute_job(
            job.get_subset(asset_selection=set(plan.asset_keys), asset_check_selection=set()),
            instance=instance,
            tags={**plan.tags, **in_process_tags(), "ingest/trigger": trigger},
            run_config=run_config,
        ) as result:
            outcome = "succeeded" if result.success else "had failures"
            print(
                f"[run {i}/{len(plans)}] {outcome} in {time.perf_counter() - started:.1f} s (run id {result.run_id})",
                flush=True,
            )
            outcomes.append(result.success)
    return outcomes


def execute_purge(instance: dg.DagsterInstance, doc_ids: Sequence[str], log_level: str, trigger: str) -> bool:
    """Purge `doc_ids` (rows, then partitions) in one run of `purge_job`."""
    if not doc_ids:
        return True
    from ingestion_assets.definitions import get_purge_job
    from ingestion_assets.purge import purge_run_config
    from ingestion_assets.run_health import in_process_tags

    started = time.perf_counter()
    with dg.execute_job(
        dg.reconstructable(get_purge_job),
        instance=instance,
        tags={**in_process_tags(), "ingest/trigger": trigger},
        run_config={**purge_run_config(list(doc_ids)), "loggers": {"console": {"config": {"log_level": log_level}}}},
    ) as result:
        outcome = "purged" if result.success else "failed to purge"
        print(
            f"{outcome} {len(doc_ids)} deleted document(s) in {time.perf_counter() - started:.1f} s "
            f"(run id {result.run_id})",
            flush=True,
        )
        return result.success


def print_status_table(statuses, show_phases: bool = False) -> None:
    if not statuses:
        return
    width = min(60, max(len(s.doc_id) for s in statuses))
    if show_phases:
        lines = [
            f"{'document':<{width}}  {'documents':<12}  {'chunks':<12}  {'embeddings':<12}  {'#chunks':>7}  {'last materialized':<25}  error / warnings"
        ]
        for s in statuses:
            chunks = "" if s.chunks is None else str(s.chunks)
            p = s.phases
            lines.append(
                f"{s.doc_id:<{width}}  {p['documents']:<12}  {p['chunks']:<12}  {p['embeddings']:<12}  "
                f"{chunks:>7}  {s.last_materialized or '-':<25}  {_remark(s)}"
            )
        sys.stdout.write("\n".join(lines) + "\n")
        return
    print(f"{'document':<{width}}  {'reached':<10}  {'chunks':>6}  error / warnings")
    for s in statuses:
        chunks = "" if s.chunks is None else str(s.chunks)
        print(f"{s.doc_id:<{width}}  {s.reached:<10}  {chunks:>6}  {_remark(s)}")


def _remark(status) -> str:
    """The error of a failed document, else its parse warnings."""
    if status.error:
        return status.error.replace("\n", " ")
    return "; ".join(f"warning: {w}" for w in status.warnings)
