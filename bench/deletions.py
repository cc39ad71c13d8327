#!/usr/bin/env python
"""Deletion benchmark: `ingestctl ingest` after source files are deleted, against the no-op ingest, and
whether the deleted documents' rows are still stored in LanceDB.

Steps, on a generated corpus of tiny text files in WORK/inbox:
  cold          `ingestctl ingest`, empty store and Dagster instance
  noop          the same again, nothing changed (median of 3)
  delete-1      one file deleted, then `ingestctl ingest` (3 times, a different file each; median)
  delete-mass   --mass files deleted at once, then `ingestctl ingest` (if it exits 2 because a guard
                held the deletions and `ingestctl confirm-deletions` exists: that, then ingest again)
  noop-after    nothing changed since (median of 3)

After each deletion step it counts, with the `lancedb` package directly, the deleted documents (all
deleted so far) that still have rows in `documents`, `chunks` and `embeddings`. Prints a table and
ratios; writes JSON with --out. Each command's output is kept in WORK/logs.

Usage::

    python bench/deletions.py [--docs 10000] [--mass 1000] [--seed 7] [--work DIR] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.measure import command_env, dagster_home, measure  # noqa: E402

PY = sys.executable
INGESTCTL = Path(PY).with_name("ingestctl")
REPEATS = 3
"""No-op and delete-one runs are measured this many times; the table shows the median."""
PER_FOLDER = 100
TABLES = ("documents", "chunks", "embeddings")
WORDS = (
    "harbour tide pilot vessel cargo anchor beacon channel dredge ferry quay crane ledger invoice audit "
    "budget forecast margin supplier contract schedule shift roster meeting agenda minutes review memo "
    "sensor pump valve turbine filter boiler circuit relay cable switch network server backup archive "
    "report summary policy storage index query record window garden bridge river mountain signal winter "
    "summer morning evening careful quick steady late early quiet open closed north south east west"
).split()


def document_text(rng: random.Random, number: int) -> str:
    """A few sentences, 30 to 80 words from WORDS, the first naming the document (so no two are equal)."""
    target = rng.randint(30, 80)
    sentences = [f"Note {number} concerns the {rng.choice(WORDS)} and the {rng.choice(WORDS)}."]
    count = 7
    while count < target:
        length = min(rng.randint(6, 14), target - count)
        words = rng.choices(WORDS, k=max(length, 3))
        sentences.append(" ".join(words).capitalize() + ".")
        count += len(words)
    return " ".join(sentences) + "\n"


def generate(inbox: Path, docs: int, seed: int) -> list[str]:
    """`docs` text files under `inbox` (dNN/fNNNNN.txt, PER_FOLDER per folder); their document ids."""
    rng = random.Random(seed)
    keys = []
    for i in range(docs):
        key = f"d{i // PER_FOLDER:02d}/f{i:05d}.txt"
        path = inbox / key
        if i % PER_FOLDER == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document_text(rng, i), encoding="utf-8")
        keys.append(key)
    return keys


class Runner:
    """Whole-command runs of `ingestctl` (bench/measure.py), each one's output kept in WORK/logs."""

    def __init__(self, work: Path):
        self.env = command_env(work / "dagster_home", work / "lancedb", work / "inbox")
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.command = [str(INGESTCTL)] if INGESTCTL.exists() else [PY, "-m", "ingestctl"]

    def run(self, label: str, *args: str) -> dict:
        """`ingestctl ARGS` (default: `ingestctl ingest`), timed as a whole command."""
        args = args or ("ingest",)
        self.count += 1
        report, proc = measure([*self.command, *args], self.env)
        log = self.logs / f"{self.count:02d}-{label}.log"
        log.write_text(f"$ ingestctl {' '.join(args)}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
        report = {"step": label, **report, "log": str(log)}
        print(f"  {label}: {report['wall_s']} s, exit {report['exit']}", flush=True)
        return report

    def has_command(self, name: str) -> bool:
        proc = subprocess.run([*self.command, "--help"], env=self.env, cwd=REPO, capture_output=True, text=True)
        return name in proc.stdout


def doc_ids(db: Path) -> dict[str, list[str]]:
    """The `doc_id` of every row of each table (a table not created yet has none)."""
    import lancedb

    conn = lancedb.connect(str(db))
    out = {}
    for name in TABLES:
        try:
            table = conn.open_table(name)
        except ValueError:  # not found
            out[name] = []
            continue
        out[name] = table.search().select(["doc_id"]).limit(None).to_arrow().column("doc_id").to_pylist()
    return out


def still_stored(db: Path, deleted: set[str]) -> dict[str, dict[str, int]]:
    """Per table: how many of the `deleted` documents still have rows, and how many rows."""
    out = {}
    for name, ids in doc_ids(db).items():
        present = [doc_id for doc_id in ids if doc_id in deleted]
        out[name] = {"docs": len(set(present)), "rows": len(present)}
    return out


def stored_docs(db: Path) -> dict[str, int]:
    """Distinct documents per table."""
    return {name: len(set(ids)) for name, ids in doc_ids(db).items()}


def summary(reports: list[dict]) -> dict:
    """Median wall time of `reports`, every wall time and exit code, and the last report's other facts."""
    return {
        **reports[-1],
        "wall_s": round(statistics.median(r["wall_s"] for r in reports), 3),
        "wall_s_all": [r["wall_s"] for r in reports],
        "exit_all": [r["exit"] for r in reports],
        "exit": max((r["exit"] for r in reports), key=lambda code: code != 0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=10_000, help="documents in the corpus (default 10000)")
    parser.add_argument("--mass", type=int, default=1_000, help="documents deleted at once (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary one)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.docs < REPEATS + args.mass + 1:
        parser.error(f"--docs must exceed --mass + {REPEATS}")
    work = args.work or Path(tempfile.mkdtemp(prefix="ingest-deletions-"))
    work.mkdir(parents=True, exist_ok=True)
    used = [name for name in ("inbox", "lancedb", "dagster_home", "logs") if (work / name).exists()]
    if used:
        parser.error(f"{work} already holds {', '.join(used)}: use a new --work folder")
    inbox, db = work / "inbox", work / "lancedb"
    dagster_home(work / "dagster_home")
    keys = generate(inbox, args.docs, args.seed)
    print(f"corpus: {len(keys)} text files in {inbox} (seed {args.seed})", flush=True)
    rng = random.Random(args.seed + 1)
    victims = rng.sample(keys, REPEATS + args.mass)
    runner = Runner(work)
    results: dict = {
        "docs": args.docs,
        "mass": args.mass,
        "seed": args.seed,
        "work": str(work),
        "machine_cpus": os.cpu_count(),
        "steps": {},
    }
    steps = results["steps"]
    deleted: set[str] = set()

    def after_deletion(report: dict) -> dict:
        stored = still_stored(db, deleted)
        report = {**report, "deleted_so_far": len(deleted), "still_stored": stored}
        print(f"    deleted so far {len(deleted)}; still stored: {stored}", flush=True)
        return report

    print("cold ingest", flush=True)
    steps["cold"] = {**runner.run("cold"), "stored_docs": stored_docs(db)}
    print(f"    stored documents per table: {steps['cold']['stored_docs']}", flush=True)

    print("no-op", flush=True)
    steps["noop"] = summary([runner.run("noop") for _ in range(REPEATS)])

    print("delete one document", flush=True)
    ones = []
    for key in victims[:REPEATS]:
        (inbox / key).unlink()
        deleted.add(key)
        ones.append(after_deletion({**runner.run("delete-1"), "document": key}))
    steps["delete_1"] = {**summary(ones), "documents": [r["document"] for r in ones]}

    print(f"delete {args.mass} documents", flush=True)
    for key in victims[REPEATS:]:
        (inbox / key).unlink()
    deleted.update(victims[REPEATS:])
    steps["delete_mass"] = after_deletion(runner.run("delete-mass"))
    if steps["delete_mass"]["exit"] == 2:
        if runner.has_command("confirm-deletions"):
            steps["confirm_deletions"] = runner.run("confirm-deletions", "confirm-deletions")
            steps["delete_mass_confirmed"] = after_deletion(runner.run("delete-mass-confirmed"))
        else:
            print("    exit 2, and ingestctl has no confirm-deletions command", flush=True)

    print("no-op after deletions", flush=True)
    steps["noop_after"] = after_deletion(summary([runner.run("noop-after") for _ in range(REPEATS)]))
    steps["noop_after"]["stored_docs"] = stored_docs(db)

    results["ratios"] = ratios(steps)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    print_table(results)
    if args.out:
        print(f"\nJSON: {args.out}")
    return 0


def ratios(steps: dict) -> dict:
    noop = steps["noop"]["wall_s"]
    mass = steps.get("delete_mass_confirmed", steps["delete_mass"])
    return {
        "delete_1_vs_noop": round(steps["delete_1"]["wall_s"] / noop, 3),
        "delete_mass_vs_noop": round(mass["wall_s"] / noop, 3),
        "noop_after_vs_noop_before": round(steps["noop_after"]["wall_s"] / noop, 3),
    }


def print_table(r: dict) -> None:
    labels = {
        "cold": f"cold ingest, {r['docs']} docs",
        "noop": f"no-op (median of {REPEATS})",
        "delete_1": f"delete 1 doc (median of {REPEATS})",
        "delete_mass": f"delete {r['mass']} docs",
        "confirm_deletions": "ingestctl confirm-deletions",
        "delete_mass_confirmed": f"delete {r['mass']} docs, ingest after confirm",
        "noop_after": f"no-op after deletions (median of {REPEATS})",
    }
    header = ("step", "seconds", "exit", "deleted docs still stored (documents/chunks/embeddings of deleted)")
    rows = [header]
    for key, label in labels.items():
        if key not in r["steps"]:
            continue
        step = r["steps"][key]
        exits = step.get("exit_all", [step["exit"]])
        stored = "-"
        if "still_stored" in step:
            counts = "/".join(str(step["still_stored"][name]["docs"]) for name in TABLES)
            stored = f"{counts} of {step['deleted_so_far']}"
        rows.append((label, step["wall_s"], ",".join(map(str, exits)), stored))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    print()
    for i, row in enumerate(rows):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print()
    for key, value in r["ratios"].items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    sys.exit(main())
