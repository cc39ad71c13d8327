"""Executing planned ranged runs in this process, on the DAGSTER_HOME instance."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from ingestion_assets.planning import RunPlan
from resources.tables import DEFAULT_SOURCE

if TYPE_CHECKING:
    from ingestion_assets.keys import Family

PROGRESS = "progress"
"""The default `--log-level`: progress and summary only, Dagster's own log lines left out."""


def console_config(log_level: str) -> dict[str, Any]:
    """Run config of Dagster's console logger for `--log-level` (at `progress`, only what is critical)."""
    level = "CRITICAL" if log_level.lower() == PROGRESS else log_level.upper()
    return {"console": {"config": {"log_level": level}}}


def execute_plans(
    instance: dg.DagsterInstance,
    plans: Sequence[RunPlan],
    log_level: str,
    trigger: str,
    run_config: dict[str, Any] | None = None,
    show_progress: bool = True,
    family: Family | None = None,
) -> list[bool]:
    """Execute each plan as one ranged run of the source's ingest job (`ingest_job` for the default source);
    `run_config` configures its resources.

    Progress goes to stderr (a bar on a terminal); an error that is not a document's failure is
    printed with its traceback, since the summary only names documents."""
    if not plans:
        return []
    from ingestctl.collector import resume_for_work
    from ingestctl.progress import INVOCATION_TAG, Display, RunWatcher, Totals, print_unexpected
    from ingestion_assets.keys import DEFAULT, SOURCE_TAG
    from ingestion_assets.run_health import in_process_tags

    family = family or DEFAULT
    job = dg.build_reconstructable_job(
        "ingestion_assets.definitions", "get_job", reconstructable_args=(family.ingest_job,)
    )
    run_config = {**(run_config or {}), "loggers": console_config(log_level)}
    totals = Totals(runs=len(plans), documents=sum(len(plan.keys) for plan in plans))
    display = Display(sys.stderr, totals, enabled=show_progress)
    outcomes = []
    resume_for_work()
    for i, plan in enumerate(plans, 1):
        totals.run = i
        wait_for_pool(instance, display)
        say(
            f"[run {i}/{len(plans)}] {len(plan.keys)} document(s) {plan.keys[0]!r} .. {plan.keys[-1]!r}: "
            f"{', '.join(plan.phases)}",
            display,
        )
        started = time.perf_counter()
        token = uuid.uuid4().hex
        watcher = RunWatcher(instance, token, display)
        watcher.start()
        try:
            with dg.execute_job(
                job.get_subset(asset_selection=set(plan.asset_keys), asset_check_selection=set()),
                instance=instance,
                tags={
                    **plan.tags,
                    **in_process_tags(),
                    "ingest/trigger": trigger,
                    SOURCE_TAG: family.source,
                    INVOCATION_TAG: token,
                },
                run_config=run_config,
            ) as result:
                state = watcher.stop()
                state.finished = True
                totals.finished_documents += len(plan.keys)
                display.update(state, final=True)
                display.close()
                print_unexpected(state, f"[run {i}/{len(plans)}]")
                outcome = "succeeded" if result.success else "had failures"
                say(
                    f"[run {i}/{len(plans)}] {outcome} in {time.perf_counter() - started:.1f} s "
                    f"(run id {result.run_id})",
                    display,
                )
                outcomes.append(result.success)
        finally:
            if watcher.is_alive():
                watcher.stopping.set()
    return outcomes


POOL_POLL_S = 1.0


def wait_for_pool(instance: dg.DagsterInstance, display=None) -> None:
    """Wait while another run holds the `ingestion` pool (e.g. `maintenance_job` compacting the tables).

    The run queue keeps its runs from starting beside this process's runs once they are in
    progress; this keeps this process's runs from starting beside the queue's."""
    from ingestion_assets.keys import POOL
    from ingestion_assets.run_health import fail_dead_runs, runs_holding_pool

    waited_for: set[str] = set()
    while True:
        holding = runs_holding_pool(instance, POOL)
        if not holding:
            return
        new = [run for run in holding if run.run_id not in waited_for]
        for run in new:
            say(f"waiting for run {run.run_id} ({run.job_name}) to release the `{POOL}` pool", display)
        waited_for.update(run.run_id for run in new)
        fail_dead_runs(instance)
        time.sleep(POOL_POLL_S)


def say(line: str, display=None) -> None:
    """A line of the invocation's own on stdout, below the progress bar if one is drawn."""
    if display is not None:
        display.close()
    print(line, flush=True)


def execute_report(instance: dg.DagsterInstance) -> bool:
    """Materialise `ingestion_report` and its checks in one run of `report_job`, in this process."""
    from ingestion_assets.definitions import get_report_job
    from ingestion_assets.run_health import in_process_tags

    with dg.execute_job(
        dg.reconstructable(get_report_job),
        instance=instance,
        tags={**in_process_tags(), "ingest/trigger": "ingestctl report"},
        run_config={"loggers": console_config(PROGRESS)},
    ) as result:
        return result.success


def execute_purge(
    instance: dg.DagsterInstance, doc_ids: Sequence[str], log_level: str, trigger: str, source: str = DEFAULT_SOURCE
) -> bool:
    """Purge `doc_ids` of `source` (rows, then partitions) in one run of `purge_job`."""
    if not doc_ids:
        return True
    from ingestion_assets.definitions import get_purge_job
    from ingestion_assets.keys import SOURCE_TAG
    from ingestion_assets.purge import purge_run_config
    from ingestion_assets.run_health import in_process_tags

    started = time.perf_counter()
    with dg.execute_job(
        dg.reconstructable(get_purge_job),
        instance=instance,
        tags={**in_process_tags(), "ingest/trigger": trigger, SOURCE_TAG: source},
        run_config={**purge_run_config(list(doc_ids), source), "loggers": console_config(log_level)},
    ) as result:
        outcome = "purged" if result.success else "failed to purge"
        print(
            f"{outcome} {len(doc_ids)} deleted document(s) in {time.perf_counter() - started:.1f} s "
            f"(run id {result.run_id})",
            flush=True,
        )
        return result.success


LISTED_IN_FULL = 25
"""Up to this many documents, the ingest summary lists each; beyond, only those not fully ingested or with warnings."""


def print_status_table(statuses, show_phases: bool = False) -> None:
    if not statuses:
        return
    if not show_phases and len(statuses) > LISTED_IN_FULL:
        shown = [s for s in statuses if not s.ok or s.warnings]
        if len(shown) < len(statuses):
            print(
                f"{len(statuses) - len(shown)} fully ingested document(s) without warnings not listed (`ingestctl status`)"
            )
        statuses = shown
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
