#!/usr/bin/env python
"""Start-up and per-query latency of `SearchClient`: fresh processes to their first answer, then medians per mode."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
FILLER_QUESTIONS = REPO / "bench" / "retrieval_corpus" / "documents.json"


def questions(count: int) -> list[str]:
    """The sample queries of `samples/queries.yaml`, then questions of the retrieval corpus, `count` in all."""
    found = [entry["query"] for entry in yaml.safe_load((SAMPLES / "queries.yaml").read_text())]
    for document in json.loads(FILLER_QUESTIONS.read_text()):
        found += [q["question"] for q in document.get("questions", [])]
    return found[:count]


def ingest(corpus: Path, folder: Path) -> str:
    """`ingestctl ingest CORPUS` into a fresh instance and store under `folder`; the store's URI."""
    home, uri = folder / "dagster_home", folder / "lancedb"
    home.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "LANCEDB_URI": str(uri), "INGEST_SOURCE_DIR": str(corpus)}
    exe = Path(sys.executable).parent / "ingestctl"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "ingestctl"]
    done = subprocess.run([*command, "ingest", str(corpus)], env=env, cwd=REPO, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"ingestctl ingest failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return str(uri)


def worker(uri: str, queries: list[str], per_query: bool) -> dict[str, Any]:
    """In a fresh process: import, construct, first answer; then, with `per_query`, every query in every mode."""
    started = time.perf_counter()
    from ingestion_assets.client import SearchClient
    from ingestion_assets.search import SEARCH_MODES

    imported = time.perf_counter()
    client = SearchClient(uri)
    constructed = time.perf_counter()
    client.search(queries[0])
    answered, answered_at = time.perf_counter(), time.time()
    result: dict[str, Any] = {
        "answered_at": answered_at,
        "import_s": imported - started,
        "construct_s": constructed - imported,
        "first_answer_s": answered - constructed,
        "dagster_imported": "dagster" in sys.modules,
        "encoder": repr(client.encoder),
    }
    if per_query:
        timings: dict[str, list[float]] = {}
        calls = {f"search {mode}": (lambda q, m=mode: client.search(q, 5, m)) for mode in SEARCH_MODES}
        calls["documents ranked"] = lambda q: client.documents(q, 5, 3)
        for name, call in calls.items():
            call(queries[-1])
            for query in queries:
                began = time.perf_counter()
                call(query)
                timings.setdefault(name, []).append(time.perf_counter() - began)
        result["per_query_s"] = timings
    client.close()
    return result


def run_worker(uri: str, queries: list[str], per_query: bool) -> tuple[float, dict[str, Any]]:
    """A fresh interpreter running `worker`: seconds from its launch to its first answer, and what it measured."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(queries, handle)
    launched = time.time()
    command = [sys.executable, __file__, "--worker", uri, handle.name] + (["--per-query"] if per_query else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    os.unlink(handle.name)
    if done.returncode:
        raise SystemExit(f"worker failed ({done.returncode}):\n{done.stderr[-2000:]}")
    measured = json.loads(done.stdout.splitlines()[-1])
    return measured["answered_at"] - launched, measured


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lancedb-uri", help="an ingested store to search (default: ingest --corpus first)")
    parser.add_argument("--corpus", type=Path, default=SAMPLES, help="the folder to ingest (default: samples/)")
    parser.add_argument("--queries", type=int, default=30, help="questions per mode (default: 30)")
    parser.add_argument("--starts", type=int, default=3, help="fresh processes timed to their first answer")
    parser.add_argument("--worker", nargs=2, metavar=("URI", "QUERIES_JSON"), help=argparse.SUPPRESS)
    parser.add_argument("--per-query", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        uri, queries_file = args.worker
        print(json.dumps(worker(uri, json.loads(Path(queries_file).read_text()), args.per_query)))
        return
    queries = questions(args.queries)
    with tempfile.TemporaryDirectory(prefix="bench-client-") as work:
        uri = args.lancedb_uri or ingest(args.corpus, Path(work))
        starts = [run_worker(uri, queries, False) for _ in range(args.starts)]
        _, measured = run_worker(uri, queries, True)
    walls = [wall for wall, _ in starts]
    print(f"store: {args.lancedb_uri or args.corpus}; {len(queries)} questions; {os.cpu_count()} CPUs")
    print(f"encoder: {measured['encoder']}; dagster imported: {measured['dagster_imported']}")
    print(f"start-up, median of {len(starts)} fresh processes:")
    print(f"  process launch to first answer {ms(statistics.median(walls))}")
    for key, label in (("import_s", "import"), ("construct_s", "SearchClient()"), ("first_answer_s", "first search")):
        print(f"  {label:<30} {ms(statistics.median(r[key] for _, r in starts))}")
    print(f"per query, over {len(queries)} questions (k=5):  median  p90")
    for name, timings in measured["per_query_s"].items():
        p90 = statistics.quantiles(timings, n=10)[-1]
        print(f"  {name:<30} {ms(statistics.median(timings)):>7} {ms(p90):>7}")


if __name__ == "__main__":
    main()
