#!/usr/bin/env python
"""What a scrape of `ingestctl metrics` costs on a large instance.

Builds a Dagster instance with --partitions registered documents (added in chunks of 2,000, as the
inbox sensor does), the first --materialized of them materialised in all three phases (runless
materialisation events written in batches, so building the instance does not take a run per
document), and the LanceDB `documents` rows of as many one-line text files (what bench/run.py's
`scale` section writes; --no-rows skips them). Then starts `python -m ingestctl metrics` on it,
times --scrapes HTTP GETs of /metrics (the median is reported, with the exporter's own
`ingest_scrape_duration_seconds`), and reads the exporter's peak RSS (VmHWM). --profile also runs
one collection in this process under cProfile and prints where the time goes.

Prints a table and writes JSON (--out).

Usage::

    python bench/metrics_scrape.py [--partitions 100000] [--materialized N] [--scrapes 3] [--profile]
        [--out bench/out/metrics_scrape.json]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.measure import command_env, dagster_home, text_document_row  # noqa: E402

PY = sys.executable
EVENT_BATCH = 1000
"""Materialisation events per transaction when the instance is built."""


def document_keys(n: int) -> list[str]:
    """The partition keys bench/run.py's `scale` section gives its files: 1,000 per folder."""
    return [f"batch-{i // 1000:04d}/note-{i:06d}.txt" for i in range(n)]


def register(instance, keys: list[str]) -> float:
    from ingestion_assets.keys import documents_partitions
    from ingestion_assets.records import PARTITION_ADD_CHUNK

    started = time.perf_counter()
    for i in range(0, len(keys), PARTITION_ADD_CHUNK):
        instance.add_dynamic_partitions(documents_partitions.name, keys[i : i + PARTITION_ADD_CHUNK])
    return time.perf_counter() - started


def report_materializations(instance, keys: list[str]) -> float:
    """Materialise `keys` in the three phases as runless events, EVENT_BATCH per transaction.

    `instance.report_runless_asset_event` writes one event per transaction (a few ms each); Dagster's
    batched writer, the one that writes a new run's planned events, takes these Dagster internals.
    """
    import dagster as dg
    from dagster._core.events import DagsterEvent, DagsterEventBatchMetadata, DagsterEventType, StepMaterializationData
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    from ingestion_assets.keys import PHASE_KEYS

    os.environ["DAGSTER_EVENT_BATCH_SIZE"] = str(EVENT_BATCH)
    started = time.perf_counter()
    for key in PHASE_KEYS:
        metadata = {"batch_embedded_chunks": 1, "chunks_per_second": 100.0} if key.path == ["embeddings"] else {}
        for i in range(0, len(keys), EVENT_BATCH):
            chunk = keys[i : i + EVENT_BATCH]
            batch = f"{key.to_user_string()}-{i}"
            for j, doc_id in enumerate(chunk):
                event = DagsterEvent(
                    event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
                    event_specific_data=StepMaterializationData(
                        dg.AssetMaterialization(asset_key=key, partition=doc_id, metadata=metadata)
                    ),
                    job_name=RUNLESS_JOB_NAME,
                )
                instance.report_dagster_event(
                    event, run_id=RUNLESS_RUN_ID, batch_metadata=DagsterEventBatchMetadata(batch, j == len(chunk) - 1)
                )
    return time.perf_counter() - started


def write_rows(db: Path, keys: list[str]) -> float:
    from resources.lancedb_store import LanceDBStore
    from resources.sources.base import SourceFile
    from resources.tables import DocumentRow

    started = time.perf_counter()
    rows = []
    for i, key in enumerate(keys):
        data = f"note {i}".encode()
        file = SourceFile(key, None, len(data), 1_700_000_000_000_000_000 + i)
        rows.append(text_document_row(file, f"file:///bench/{key}", data))
    LanceDBStore(uri=str(db)).replace_rows(DocumentRow, rows, [r.doc_id for r in rows])
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_status(pid: int) -> dict[str, float]:
    """VmHWM (peak) and VmRSS of a process, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            values[name] = round(int(rest.split()[0]) / 1024, 1)
    return values


def scrape(url: str) -> tuple[float, float | None, str]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        body = response.read().decode()
    wall = time.perf_counter() - started
    own = re.search(r"^ingest_scrape_duration_seconds (\S+)$", body, re.MULTILINE)
    return wall, float(own.group(1)) if own else None, body


def run_exporter(env: dict[str, str], scrapes: int, work: Path) -> dict:
    port = free_port()
    log = work / "exporter.log"
    started = time.perf_counter()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [PY, "-m", "ingestctl", "metrics", "--listen", f"127.0.0.1:{port}"],
            env=env,
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        while "serving http://" not in log.read_text(errors="replace"):
            if process.poll() is not None:
                raise RuntimeError(f"the exporter exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        startup = time.perf_counter() - started
        walls, owns, body = [], [], ""
        for _ in range(scrapes):
            wall, own, body = scrape(f"http://127.0.0.1:{port}/metrics")
            walls.append(wall)
            owns.append(own)
        memory = proc_status(process.pid)
        errors = re.findall(r'^ingest_scrape_errors\{group="(\w+)"\} 1\.0$', body, re.MULTILINE)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return {
        "startup_s": round(startup, 2),
        "scrape_wall_s": [round(w, 3) for w in walls],
        "scrape_median_s": round(statistics.median(walls), 3),
        "own_duration_median_s": round(statistics.median([o for o in owns if o is not None]), 3) if owns else None,
        "peak_rss_mb": memory.get("VmHWM"),
        "rss_mb": memory.get("VmRSS"),
        "body_bytes": len(body.encode()),
        "series": sum(1 for line in body.splitlines() if line and not line.startswith("#")),
        "scrape_errors": errors,
        "exit_code": code,
        "documents_line": next((line for line in body.splitlines() if line.startswith("ingest_documents{")), ""),
    }


def profile(env: dict[str, str], top: int = 25) -> str:
    """One collection in this process under cProfile (after a warm-up one): the top functions by cumulative time."""
    os.environ.update(env)
    from ingestctl.instance import CliContext
    from ingestctl.metrics import build_registry

    registry = build_registry(CliContext.from_env())
    list(registry.collect())
    profiler = cProfile.Profile()
    profiler.enable()
    list(registry.collect())
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def print_table(r: dict) -> None:
    e = r["exporter"]
    rows = [
        ("measure", "value"),
        ("registered partitions", f"{r['partitions']:,}"),
        ("materialised in all three phases", f"{r['materialized']:,}"),
        ("LanceDB documents rows", f"{r['rows']:,}"),
        ("exporter start, until it serves (s)", e["startup_s"]),
        (f"GET /metrics, median of {len(e['scrape_wall_s'])} (s)", e["scrape_median_s"]),
        ("  each scrape (s)", ", ".join(str(w) for w in e["scrape_wall_s"])),
        ("  ingest_scrape_duration_seconds, median", e["own_duration_median_s"]),
        ("exporter peak RSS, VmHWM (MB)", e["peak_rss_mb"]),
        ("series per scrape", e["series"]),
        ("groups with scrape errors", ", ".join(e["scrape_errors"]) or "none"),
    ]
    widths = [max(len(str(row[i])) for row in rows) for i in range(2)]
    for i, row in enumerate(rows):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, default=100_000)
    parser.add_argument("--materialized", type=int, help="documents materialised in all phases (default: all)")
    parser.add_argument("--no-rows", action="store_true", help="do not write LanceDB documents rows")
    parser.add_argument("--scrapes", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also profile one collection in this process")
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary one, removed after)")
    parser.add_argument(
        "--reuse", action="store_true", help="scrape the instance and tables a previous run left in --work again"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "metrics_scrape.json")
    args = parser.parse_args(argv)
    materialized = args.partitions if args.materialized is None else min(args.materialized, args.partitions)
    work = args.work or Path(tempfile.mkdtemp(prefix="ingest-metrics-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        import dagster as dg

        home, db, source = work / "home", work / "db", work / "inbox"
        source.mkdir(exist_ok=True)
        keys = document_keys(args.partitions)
        reuse = args.reuse and args.work is not None and (work / "exporter.log").exists()
        if not reuse:
            dagster_home(home)
        instance = dg.DagsterInstance.from_config(str(home))
        results: dict = {
            "partitions": args.partitions,
            "materialized": materialized,
            "rows": 0 if args.no_rows else args.partitions,
            "machine_cpus": os.cpu_count(),
            "keys_digest": hashlib.sha256("\n".join(keys[:10]).encode()).hexdigest()[:12],
        }
        if reuse:
            results["reused"] = str(work)
        else:
            results["register_s"] = round(register(instance, keys), 1)
            print(f"registered {len(keys):,} partitions in {results['register_s']} s", flush=True)
            results["materialize_s"] = round(report_materializations(instance, keys[:materialized]), 1)
            print(f"materialised {materialized:,} x 3 phases in {results['materialize_s']} s", flush=True)
        instance.dispose()
        if not args.no_rows and not reuse:
            results["rows_s"] = round(write_rows(db, keys), 1)
            print(f"wrote {len(keys):,} documents rows in {results['rows_s']} s", flush=True)
        env = command_env(home, db, source)
        results["exporter"] = run_exporter(env, args.scrapes, work)
        print(f"exporter: {results['exporter']}", flush=True)
        if args.profile:
            results["profile"] = profile(env)
            print(results["profile"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
        print_table(results)
        print(f"\nJSON: {args.out}")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
