#!/usr/bin/env python
"""Crash trials: whether ingestion recovers exactly after `ingestctl ingest` is killed mid-way.

Each trial SIGKILLs `ingestctl ingest` (the run worker: runs execute in its process) at a random
point of ingestion, recovers with a second `ingestctl ingest`, and checks that the three LanceDB
tables then hold exactly the expected rows.

The expected rows are derived independently from the files on disk: every supported file has
one `documents` row with its sha256, its chunks are exactly what the splitter makes of its text,
and every chunk has exactly one vector (no duplicates, nothing missing, no orphans).

Usage::

    python bench/crash_trials.py --trials 10 [--seed 1] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.corpus import edit_one, generate  # noqa: E402
from bench.measure import dagster_home  # noqa: E402

KILL_POINTS = [
    ("before any run", "new partition(s)"),
    ("run started", "[run 1/"),
    ("after documents commit", "documents: "),
    ("while embedding", "chunks: "),
]


def _env(work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DAGSTER_HOME": str(work / "home"),
        "LANCEDB_URI": str(work / "lancedb"),
        "INGEST_SOURCE_DIR": str(work / "inbox"),
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
    }


def _ingest(work: Path) -> subprocess.Popen:
    return subprocess.Popen(
        # INFO: the kill points after a commit are Dagster's own log lines, which `progress` leaves out.
        [sys.executable, "-m", "ingestctl", "ingest", "--log-level", "INFO"],
        cwd=work,
        env=_env(work),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _kill_at(process: subprocess.Popen, marker: str, delay: float, timeout: float = 300) -> bool:
    """Kill the process `delay` seconds after `marker` appears in its output; False if it ended first."""
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        if marker in line:
            time.sleep(delay)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return True
            return False
        if time.monotonic() > deadline:
            break
    process.wait()
    return False


def expected_rows(inbox: Path) -> dict[str, dict]:
    from ingestion_assets.chunking import TokenChunker
    from ingestion_assets.parsing import ParseError, parse_bytes, supported_suffixes
    from resources.chunker_config import ChunkerConfig
    from resources.document_source import DocumentSource
    from resources.embedding_model import EmbeddingModel

    chunker = TokenChunker.configured(ChunkerConfig(), EmbeddingModel())
    expected = {}
    for file in DocumentSource(suffixes=supported_suffixes(), root_dir=str(inbox)).scan().files:
        data = file.path.read_bytes()
        try:
            parsed = parse_bytes(file.key, data)
        except ParseError:
            continue
        chunks = chunker.split(file.key, parsed.text, parsed.page_offsets)
        expected[file.key] = {"hash": hashlib.sha256(data).hexdigest(), "chunks": {c.chunk_id for c in chunks}}
    return expected


def verify(work: Path) -> list[str]:
    """Differences between the store and the files; empty when the store is exactly right."""
    from resources.lancedb_store import CHUNKS, DOCUMENTS, EMBEDDINGS, LanceDBStore

    store = LanceDBStore(uri=str(work / "lancedb"))
    expected = expected_rows(work / "inbox")
    problems = []
    documents = store.read(DOCUMENTS, ["doc_id", "content_hash"]).to_pylist()
    doc_counts = Counter(d["doc_id"] for d in documents)
    if set(doc_counts) != set(expected):
        problems.append(f"documents: {sorted(set(doc_counts) ^ set(expected))} differ")
    problems += [f"documents: {d} stored {n} times" for d, n in doc_counts.items() if n > 1]
    problems += [
        f"documents: {d['doc_id']} has a stale content hash"
        for d in documents
        if d["doc_id"] in expected and d["content_hash"] != expected[d["doc_id"]]["hash"]
    ]
    for table in (CHUNKS, EMBEDDINGS):
        rows = store.read(table, ["chunk_id", "doc_id"]).to_pylist()
        counts = Counter(r["chunk_id"] for r in rows)
        problems += [f"{table}: chunk {c} stored {n} times" for c, n in counts.items() if n > 1]
        for doc_id, want in expected.items():
            have = {r["chunk_id"] for r in rows if r["doc_id"] == doc_id}
            if have != want["chunks"]:
                problems.append(
                    f"{table}: {doc_id} has {len(have - want['chunks'])} extra, {len(want['chunks'] - have)} missing"
                )
        orphans = {r["doc_id"] for r in rows} - set(expected)
        problems += [f"{table}: orphan rows of {d}" for d in sorted(orphans)]
    return problems


def run_trials(trials: int, seed: int = 1, work: Path | None = None) -> dict:
    rng = random.Random(seed)
    work = work or Path(tempfile.mkdtemp(prefix="crash-trials-"))
    dagster_home(work / "home")
    generate(work / "inbox", 6, seed=seed)
    results = []
    for trial in range(1, trials + 1):
        edit_one(work / "inbox", seed=seed * 1000 + trial)
        extra = work / "inbox" / "arrivals" / f"arrival-{trial:02d}.md"
        extra.parent.mkdir(exist_ok=True)
        extra.write_text(
            f"# Arrival {trial}\n\n" + " ".join(f"Trial {trial} sentence {i} about harbours." for i in range(150))
        )
        point, marker = rng.choice(KILL_POINTS)
        delay = round(rng.uniform(0.0, 1.5), 2)
        started = time.monotonic()
        killed = _kill_at(_ingest(work), marker, delay)
        recovery = subprocess.run(
            [sys.executable, "-m", "ingestctl", "ingest", "--log-level", "WARNING"],
            cwd=work,
            env=_env(work),
            capture_output=True,
            text=True,
            timeout=600,
        )
        problems = verify(work)
        results.append(
            {
                "trial": trial,
                "kill_point": point,
                "delay_s": delay,
                "killed": killed,
                "recovery_exit": recovery.returncode,
                "problems": problems,
                "ok": recovery.returncode == 0 and not problems,
                "seconds": round(time.monotonic() - started, 1),
            }
        )
        print(json.dumps(results[-1]), flush=True)
    return {
        "trials": trials,
        "killed": sum(r["killed"] for r in results),
        "ok": sum(r["ok"] for r in results),
        "results": results,
        "workdir": str(work),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    summary = run_trials(args.trials, args.seed)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{summary['ok']} of {summary['trials']} trials recovered exactly ({summary['killed']} killed mid-ingestion)"
        )
    return 0 if summary["ok"] == summary["trials"] else 1


if __name__ == "__main__":
    sys.exit(main())
