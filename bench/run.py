#!/usr/bin/env python
"""The ingestion benchmark: product versus a plain script, in one invocation, on this machine.

Sections (all by default, or a subset with --only):
  baseline  one Python process, no Dagster, same libraries and settings (bench/baseline.py)
  cold      `ingestctl ingest` on the corpus, empty store and instance (default backend: auto)
  backends  the same cold ingest once per installed embedding backend (INGEST_EMBED_BACKEND)
  noop      the same again, nothing changed (median of 3)
  edit      one paragraph of one document edited (median of 3 edits)
  daemon    the corpus dropped into the inbox of a running `dagster-daemon` (sensor-triggered runs)
  scale     sensor tick, `ingestctl status` and a report refresh with --scale registered files/partitions

Prints a table and writes JSON (--out). Ratios compare figures measured in this same run.

Usage::

    python bench/run.py [--docs 200] [--scale 100000] [--only cold,noop,...] [--out bench/out/results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.corpus import edit_one, generate  # noqa: E402
from bench.measure import command_env, dagster_home, measure, text_document_row  # noqa: E402

PY = sys.executable
SECTIONS = ["baseline", "cold", "noop", "edit", "backends", "daemon", "scale"]
BACKENDS = ("torch", "openvino", "onnx")
REPEATS = 3
"""No-op and one-edit runs are measured this many times; the table shows the median."""


def median_report(reports: list[dict]) -> dict:
    """The report with the median wall time, and every wall time."""
    ranked = sorted(reports, key=lambda report: report["wall_s"])
    return {**ranked[len(ranked) // 2], "wall_s_all": [report["wall_s"] for report in reports]}


def run_facts(home: Path, since: datetime) -> dict:
    """Chunks embedded (cache misses), embedding and model-load seconds of the ingest runs since `since`."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home))
    records = instance.get_run_records(filters=dg.RunsFilter(job_name="ingest_job", created_after=since))
    facts = {"runs": len(records), "chunks_embedded": 0, "embed_s": 0.0, "model_load_s": 0.0, "run_s": 0.0}
    facts["backend"] = ""
    for record in records:
        if record.start_time and record.end_time:
            facts["run_s"] += record.end_time - record.start_time
        events = instance.get_records_for_run(
            record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        batch_seen = False
        for event in events:
            materialization = event.event_log_entry.asset_materialization
            if materialization.asset_key != dg.AssetKey("embeddings"):
                continue
            metadata = materialization.metadata
            facts["chunks_embedded"] += metadata["embedded"].value
            if "backend" in metadata:
                facts["backend"] = f"{metadata['backend'].value} {metadata['precision'].value}"
            if not batch_seen:
                facts["embed_s"] += metadata["embed_seconds"].value
                facts["model_load_s"] += metadata["model_load_seconds"].value
                batch_seen = True
    instance.dispose()
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in facts.items()}


def lancedb_versions(db: Path) -> dict[str, int]:
    from resources.lancedb_store import LanceDBStore

    return LanceDBStore(uri=str(db)).versions()


def chunk_count(db: Path) -> int:
    from resources.lancedb_store import EMBEDDINGS, LanceDBStore

    table = LanceDBStore(uri=str(db)).open_table(EMBEDDINGS)
    return table.count_rows() if table is not None else 0


def startup_cost(env: dict[str, str]) -> float:
    """What any run pays before its first chunk: imports of the stack and the model load."""
    code = (
        "import time; t = time.perf_counter()\n"
        "import dagster, lancedb, pymupdf, langchain_text_splitters\n"
        "from resources.embedding_model import EmbeddingModel\n"
        "EmbeddingModel().load(); print(time.perf_counter() - t)"
    )
    out = subprocess.run([PY, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True).stdout
    return round(float(out.strip().splitlines()[-1]), 2)


def _peak_dagster_rss_mb() -> float:
    peak = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            cmdline = (status.parent / "cmdline").read_bytes()
            if b"dagster" not in cmdline:
                continue
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


def daemon_run(corpus: Path, work: Path, docs: int) -> dict:
    home, db, inbox = dagster_home(work / "daemon-home"), work / "daemon-db", work / "daemon-inbox"
    inbox.mkdir()
    env = command_env(home, db, inbox, INGEST_SENSOR_INTERVAL_S="5", INGEST_DEBOUNCE_S="1")
    env.setdefault("DAGSTER_EVENT_BATCH_SIZE", "1000")  # as `make ui` exports it
    daemon_bin = str(Path(PY).with_name("dagster-daemon"))
    with open(work / "daemon.log", "w") as log:
        daemon = subprocess.Popen(
            [daemon_bin, "run", "-w", str(REPO / "workspace.yaml")],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while "Checking for new runs for sensor" not in (work / "daemon.log").read_text():
                if time.monotonic() > deadline:
                    raise RuntimeError("the daemon did not tick its sensor within 120 s")
                time.sleep(0.5)
            staging = work / "daemon-staging"
            shutil.copytree(corpus, staging / "corpus")
            started = time.monotonic()
            since = datetime.now(UTC)
            (staging / "corpus").rename(inbox / "corpus")
            from resources.lancedb_store import EMBEDDINGS, LanceDBStore

            store = LanceDBStore(uri=str(db))
            peak = 0.0
            while True:
                peak = max(peak, _peak_dagster_rss_mb())
                table = store.open_table(EMBEDDINGS)
                if (
                    table is not None
                    and len(set(table.search().select(["doc_id"]).limit(None).to_arrow().column("doc_id").to_pylist()))
                    >= docs
                ):
                    break
                if time.monotonic() - started > 3600:
                    raise RuntimeError("daemon ingestion did not finish within an hour")
                time.sleep(1)
            wall = time.monotonic() - started
            corpus_chunks = chunk_count(db)
            _wait_for_idle_runs(home)
            facts = run_facts(home, since)
            latency = _drop_to_vectors(work, inbox, store)
            _wait_for_idle_runs(home)
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
    return {
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(peak, 1),
        "chunks": corpus_chunks,
        **facts,
        "ten_page_pdf_drop_to_vectors_s": latency,
        "sensor_interval_s": int(env["INGEST_SENSOR_INTERVAL_S"]),
    }


def _wait_for_idle_runs(home: Path, timeout_s: float = 600) -> None:
    """Until no run is queued or running: the corpus run may still be recording its events after
    its vectors are in LanceDB, and a document dropped then waits for the ingestion pool."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home))
    busy = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    deadline = time.monotonic() + timeout_s
    while instance.get_runs_count(dg.RunsFilter(statuses=busy)):
        if time.monotonic() > deadline:
            raise RuntimeError("runs still in progress after the corpus was ingested")
        time.sleep(0.5)
    instance.dispose()


def _drop_to_vectors(work: Path, inbox: Path, store) -> float:
    """Seconds from a 10-page PDF appearing in the inbox to its vectors being in LanceDB."""
    import pymupdf

    from resources.lancedb_store import EMBEDDINGS, doc_filter

    doc = pymupdf.open()
    for page in range(1, 11):
        text = " ".join(
            f"Latency probe page {page}, sentence {i}, about tide tables and harbour pilots." for i in range(25)
        )
        doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 550, 800), text, fontsize=10)
    staged = work / "latency-probe.pdf"
    doc.save(staged)
    started = time.monotonic()
    staged.rename(inbox / "latency-probe.pdf")
    while time.monotonic() - started < 900:
        table = store.open_table(EMBEDDINGS)
        if table is not None and table.count_rows(doc_filter(["latency-probe.pdf"]).to_sql()) > 0:
            return round(time.monotonic() - started, 2)
        time.sleep(0.5)
    raise RuntimeError("the 10-page PDF did not reach LanceDB within 15 minutes")


def scale_run(work: Path, n: int) -> dict:
    """Sensor ticks and `ingestctl status` with `n` registered files/partitions.

    The files are tiny and nothing is embedded: after the first tick registers the partitions,
    the `documents` rows of all files are written in one commit (what a completed ingestion leaves
    for the sensor to compare against), then a steady-state tick and `ingestctl status` are timed.
    Materialising n partitions through a run is not done here: Dagster logs one planned event per
    partition and asset when a run is created.
    """
    import dagster as dg

    from ingestion_assets.definitions import build_definitions
    from ingestion_assets.parsing import supported_suffixes
    from resources.document_source import DocumentSource
    from resources.lancedb_store import LanceDBStore
    from resources.settings import IngestSettings
    from resources.tables import DocumentRow

    home, db, inbox = dagster_home(work / "scale-home"), work / "scale-db", work / "scale-inbox"
    t0 = time.perf_counter()
    for i in range(n):
        folder = inbox / f"batch-{i // 1000:04d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"note-{i:06d}.txt").write_text(f"note {i}")
    create_s = time.perf_counter() - t0
    os.environ.update(command_env(home, db, inbox, INGEST_DEBOUNCE_S="0"))
    instance = dg.DagsterInstance.from_config(str(home))
    source = DocumentSource(suffixes=supported_suffixes(), root_dir=str(inbox))
    store = LanceDBStore(uri=str(db))
    resources = {"source": source, "lancedb": store}
    inbox_sensor = build_definitions(IngestSettings.from_env()).resolve_sensor_def("inbox_sensor")

    def tick() -> tuple[float, dg.SensorResult]:
        context = dg.build_sensor_context(instance=instance, resources=resources)
        started = time.perf_counter()
        result = inbox_sensor(context)
        return time.perf_counter() - started, result

    first_s, first = tick()
    t0 = time.perf_counter()
    for request in first.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    register_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    rows = [text_document_row(file, file.path.as_uri(), file.path.read_bytes()) for file in source.scan().files]
    store.replace_rows(DocumentRow, rows, [r.doc_id for r in rows])
    rows_s = time.perf_counter() - t0

    steady = [tick() for _ in range(3)]
    steady_s = sorted(t for t, _ in steady)[1]
    status, _ = measure([PY, "-m", "ingestctl", "status", "--json"], command_env(home, db, inbox))
    status_text, proc = measure([PY, "-m", "ingestctl", "status"], command_env(home, db, inbox))
    summary = next((row for row in proc.stdout.splitlines() if " document(s) — " in row), "")
    report, _ = measure([PY, "-m", "ingestctl", "report", "--refresh", "--json"], command_env(home, db, inbox))
    instance.dispose()
    return {
        "files": n,
        "create_files_s": round(create_s, 1),
        "first_tick_s": round(first_s, 2),
        "first_tick_runs": len(first.run_requests),
        "register_partitions_s": round(register_s, 1),
        "write_documents_rows_s": round(rows_s, 1),
        "steady_tick_s": round(steady_s, 2),
        "steady_tick_runs": len(steady[-1][1].run_requests or []),
        "status_json_command_s": status["wall_s"],
        "status_command_s": status_text["wall_s"],
        "status_summary": summary,
        "report_refresh_command_s": report["wall_s"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary one)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "results.json")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    work = args.work or Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus"
    results: dict = {"docs": args.docs, "seed": args.seed, "work": str(work), "machine_cpus": os.cpu_count()}
    print(f"corpus: {generate(corpus, args.docs, seed=args.seed)}", flush=True)

    if "baseline" in only:
        report, proc = measure(
            [PY, str(REPO / "bench" / "baseline.py"), str(corpus), "--lancedb", str(work / "baseline-db"), "--json"],
            command_env(work, work / "baseline-db", corpus),
        )
        detail = json.loads(next(row for row in proc.stdout.splitlines() if row.startswith("{")))
        results["baseline"] = {**detail, "wall_s": report["wall_s"], "peak_rss_mb": report["peak_rss_mb"]}
        print(f"baseline: {results['baseline']}", flush=True)

    home, db = dagster_home(work / "home"), work / "db"
    env = command_env(home, db, corpus)
    if {"cold", "noop", "edit"} & only:
        results["startup_s"] = startup_cost(env)
        since = datetime.now(UTC)
        report, _ = measure(["ingest"], env, probe=True)
        results["cold"] = {**report, "chunks": chunk_count(db), **run_facts(home, since)}
        print(f"cold: {results['cold']}", flush=True)
    if {"noop", "edit"} & only:
        before = lancedb_versions(db)
        since = datetime.now(UTC)
        reports = [measure(["ingest"], env, probe=True)[0] for _ in range(REPEATS)]
        results["noop"] = {
            **median_report(reports),
            **run_facts(home, since),
            "new_lancedb_versions": sum(lancedb_versions(db).values()) - sum(before.values()),
        }
        print(f"noop: {results['noop']}", flush=True)
    if "edit" in only:
        edits = []
        for i in range(REPEATS):
            edited = edit_one(corpus, seed=args.seed + i)
            since = datetime.now(UTC)
            report, _ = measure(["ingest"], env, probe=True)
            edits.append({**report, "document": str(edited.relative_to(corpus)), **run_facts(home, since)})
        results["edit"] = {**median_report(edits), "startup_s": results["startup_s"]}
        print(f"edit: {results['edit']}", flush=True)
    if "backends" in only:
        from resources.embedding_backends import available

        results["backends"] = {}
        for backend in BACKENDS:
            if not available(backend):
                continue
            b_home, b_db = dagster_home(work / f"home-{backend}"), work / f"db-{backend}"
            since = datetime.now(UTC)
            report, _ = measure(["ingest"], command_env(b_home, b_db, corpus, INGEST_EMBED_BACKEND=backend), probe=True)
            results["backends"][backend] = {**report, "chunks": chunk_count(b_db), **run_facts(b_home, since)}
            print(f"backend {backend}: {results['backends'][backend]}", flush=True)
    if "daemon" in only:
        results["daemon"] = daemon_run(corpus, work, args.docs)
        print(f"daemon: {results['daemon']}", flush=True)
    if "scale" in only:
        results["scale"] = scale_run(work, args.scale)
        print(f"scale: {results['scale']}", flush=True)

    results["ratios"] = ratios(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"\nJSON: {args.out}")
    return 0


def ratios(r: dict) -> dict:
    out = {}
    base = r.get("baseline")
    if base:
        base_rate = base["chunks"] / base["wall_s"]
        for mode in ("cold", "daemon"):
            if mode in r:
                out[f"{mode}_throughput_vs_baseline"] = round((r[mode]["chunks"] / r[mode]["wall_s"]) / base_rate, 3)
        for backend, m in r.get("backends", {}).items():
            out[f"{backend}_throughput_vs_baseline"] = round((m["chunks"] / m["wall_s"]) / base_rate, 3)
    if "cold" in r and "noop" in r:
        out["noop_time_vs_cold"] = round(r["noop"]["wall_s"] / r["cold"]["wall_s"], 4)
    if "edit" in r:
        budget = r["edit"]["startup_s"] + r["edit"]["embed_s"]
        out["edit_time_vs_startup_plus_embed"] = round(r["edit"]["wall_s"] / budget, 3) if budget else None
    return out


def print_table(r: dict) -> None:
    def throughput(label: str, m: dict, embedded: int, notes: str) -> tuple:
        return (label, m["wall_s"], m["chunks"], round(m["chunks"] / m["wall_s"], 1), embedded, m["peak_rss_mb"], notes)

    def timing(label: str, seconds: float, notes: str, embedded: Any = "-", peak_rss_mb: Any = "-") -> tuple:
        return (label, seconds, "-", "-", embedded, peak_rss_mb, notes)

    rows = [("run", "wall s", "chunks", "chunks/s", "embedded", "peak RSS MB", "notes")]
    if "baseline" in r:
        b = r["baseline"]
        rows.append(throughput("baseline (plain script)", b, b["chunks"], f"embed {b['embed_s']} s"))
    for mode, label in (("cold", "ingestctl ingest, cold"), ("daemon", "sensor + daemon, cold")):
        if mode in r:
            m = r[mode]
            notes = f"{m['runs']} run(s), {m['backend']}, embed {m['embed_s']} s"
            rows.append(throughput(label, m, m["chunks_embedded"], notes))
    for backend, m in r.get("backends", {}).items():
        notes = f"{m['backend']}, embed {m['embed_s']} s, model load {m['model_load_s']} s"
        rows.append(throughput(f"cold, INGEST_EMBED_BACKEND={backend}", m, m["chunks_embedded"], notes))
    if "noop" in r:
        n = r["noop"]
        notes = f"{n['runs']} runs, {n['new_lancedb_versions']} new versions, torch imported: {n['torch']}"
        rows.append(timing("ingestctl ingest, no-op", n["wall_s"], notes, n["chunks_embedded"], n["peak_rss_mb"]))
    if "edit" in r:
        e = r["edit"]
        notes = f"startup {e['startup_s']} s + embed {e['embed_s']} s"
        rows.append(timing("ingestctl ingest, one edit", e["wall_s"], notes, e["chunks_embedded"], e["peak_rss_mb"]))
    if "daemon" in r:
        d = r["daemon"]
        notes = f"sensor interval {d['sensor_interval_s']} s"
        rows.append(timing("10-page PDF: drop to vectors", d["ten_page_pdf_drop_to_vectors_s"], notes))
    if "scale" in r:
        s = r["scale"]
        rows.append(timing(f"sensor tick, {s['files']} files", s["steady_tick_s"], f"first tick {s['first_tick_s']} s"))
        notes = f"whole command; --json {s['status_json_command_s']} s"
        rows.append(timing(f"ingestctl status, {s['files']} partitions", s["status_command_s"], notes))
        notes = "whole command: report_job run, 4 checks, no embeddings"
        rows.append(
            timing(f"ingestctl report --refresh, {s['files']} partitions", s["report_refresh_command_s"], notes)
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print()
    for key, value in r.get("ratios", {}).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    sys.exit(main())
