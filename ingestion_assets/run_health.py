"""Marking runs whose worker process died as failed.

Dagster's run monitoring can only ask a run launcher that checks worker health (Kubernetes,
ECS, ...); the DefaultRunLauncher and runs executed in-process by `ingestctl` leave a SIGKILLed
run STARTED forever, and its partitions IN_PROGRESS, which would block resume. Runs tagged with
this host are checked here: a worker PID that no longer exists (or now belongs to a process
started after the run) means the run is dead.
"""

from __future__ import annotations

import os
import socket
import time

import dagster as dg

HOST_TAG = "ingest/host"


def host_tags() -> dict[str, str]:
    return {HOST_TAG: socket.gethostname()}


def _process_started_after(pid: int, timestamp: float) -> bool:
    """True when `pid` is a process that started after `timestamp` (the PID was reused)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])

        boot = time.time() - uptime
        return boot + start_ticks / os.sysconf("SC_CLK_TCK") > timestamp + 1
    except (OSError, ValueError, IndexError):
        return False


def _alive(pid: int, since: float) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _process_started_after(pid, since)


PID_TAG = "ingest/pid"
"""The process that creates and executes an `ingestctl` run in-process."""


def in_process_tags() -> dict[str, str]:
    """Tags of a run executed by this process (`ingestctl`): host and pid."""
    return {**host_tags(), PID_TAG: str(os.getpid())}


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Report runs started on this host whose worker process is gone as failed; returns their ids.

    Only runs whose worker is a process of this host qualify: those of `ingestctl` (in-process;
    also when killed after creating the run but before starting it) and, with the
    DefaultRunLauncher, the daemon's subprocesses. Other launchers (Kubernetes, Docker, Celery)
    run workers elsewhere and have health checks of their own.
    """
    failed = _fail_unstarted_in_process_runs(instance)
    local_launcher = isinstance(instance.run_launcher, dg.DefaultRunLauncher)
    runs = [
        run
        for run in instance.get_runs(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags=host_tags()), limit=500
        )
        if local_launcher or run.tags.get("ingest/trigger", "").startswith("ingestctl")
    ]
    for run in runs:
        records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
        if not records:
            continue
        entry = records[0].event_log_entry
        pid = entry.dagster_event.pid if entry.dagster_event else None
        if pid is None or _alive(pid, entry.timestamp):
            continue
        instance.report_run_failed(run, f"run worker (pid {pid}) is gone: it was killed or crashed")
        failed.append(run.run_id)
    return failed


def _fail_unstarted_in_process_runs(instance: dg.DagsterInstance) -> list[str]:
    """`ingestctl` runs created but never started by a process that is gone (NOT_STARTED forever,
    their partitions IN_PROGRESS): no worker will ever pick them up."""
    failed = []
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING], tags=host_tags()
        ),
        limit=500,
    )
    for record in records:
        run = record.dagster_run
        pid = run.tags.get(PID_TAG)
        if pid is None or _alive(int(pid), record.create_timestamp.timestamp()):
            continue
        instance.report_run_failed(run, f"ingestctl process (pid {pid}) is gone before the run started")
        failed.append(run.run_id)
    return failed


ACTIVE_STATUSES = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def runs_holding_pool(instance: dg.DagsterInstance, pool: str) -> list[dg.DagsterRun]:
    """Runs in progress with a step in `pool`: with run granularity each holds one of its slots.

    The run queue counts them, also runs `ingestctl` executes in its own process; those do not pass
    through the queue, so they ask this before they start."""
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=ACTIVE_STATUSES))
    return [
        r.dagster_run
        for r in records
        if r.dagster_run.run_op_concurrency is not None and pool in (r.dagster_run.run_op_concurrency.all_pools or ())
    ]
