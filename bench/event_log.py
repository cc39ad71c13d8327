#!/usr/bin/env python
"""Per-event cost of Dagster's stock SQLite event log against the project's (`dagster.yaml`).

Both store the same events a 200-document ranged run writes first (one
`ASSET_MATERIALIZATION_PLANNED` per document and phase) into a fresh instance folder on the same
disk, alternately, `--repeats` times each; prints the median milliseconds per event and the ratio.

Usage::

    python bench/event_log.py [--docs 200] [--repeats 3] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STOCK_CONFIG = "telemetry:\n  enabled: false\n"
PHASES = ("documents", "chunks", "embeddings")


def planned_events(run_id: str, docs: int) -> list:
    import dagster as dg
    from dagster._core.events import AssetMaterializationPlannedData, DagsterEvent
    from dagster._core.events.log import EventLogEntry

    entries = []
    for phase in PHASES:
        for n in range(docs):
            planned = AssetMaterializationPlannedData(dg.AssetKey(phase), partition=f"doc-{n}.pdf")
            event = DagsterEvent.build_asset_materialization_planned_event("ingest", "ingest", planned)
            entries.append(
                EventLogEntry(
                    error_info=None,
                    level=logging.DEBUG,
                    user_message="",
                    run_id=run_id,
                    timestamp=time.time(),
                    step_key="ingest",
                    job_name="ingest",
                    dagster_event=event,
                )
            )
    return entries


def ms_per_event(config: str, docs: int, parent: str | None) -> float:
    import dagster as dg

    home = tempfile.mkdtemp(prefix="event-log-bench-", dir=parent)
    try:
        Path(home, "dagster.yaml").write_text(config)
        with dg.DagsterInstance.from_config(home) as instance:
            storage = instance.event_log_storage
            storage.store_event(planned_events("warm-up", 1)[0])
            entries = planned_events("bench-run", docs)
            started = time.perf_counter()
            for entry in entries:
                storage.store_event(entry)
            return (time.perf_counter() - started) / len(entries) * 1000
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the instance folders go (default: the temp dir)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    configs = {"stock": STOCK_CONFIG, "project": (REPO / "dagster.yaml").read_text()}
    samples: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(args.repeats):
        for name, config in configs.items():
            samples[name].append(ms_per_event(config, args.docs, args.dir))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    events = args.docs * len(PHASES)
    for name, median in medians.items():
        print(f"{name:8s} {median:6.2f} ms/event (median of {args.repeats}, {events} events each)")
    print(f"ratio    {medians['stock'] / medians['project']:.2f}x fewer milliseconds per event")
    print(json.dumps({"events": events, "ms_per_event": medians, "samples": samples}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
