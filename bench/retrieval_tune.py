#!/usr/bin/env python
"""The weights of the `ranked` search mode: a grid searched on the tune questions, each point judged on the judge ones.

Run after `bench/retrieval.py WORK_DIR --modes product` (it reads that run's corpus questions and the product's
store under WORK_DIR). The candidates of every question (`fetch_candidates`: the passages found by vector and by
full-text search, and the documents' lead passages) are fetched once; each point of the grid ranks them with
the product's own `rank_candidates` and is scored as `bench/retrieval.py` scores a search. The objective is the
sum of MRR@10 at the `document`, `passage` and `passage-answer` levels of the tune split; the judge split is
printed beside it and plays no part in the choice.

Usage::

    python bench/retrieval_tune.py WORK_DIR [--top 15] [--k 40]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.retrieval import score, tree_env  # noqa: E402

GRID = {
    "full_text": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7),
    "lead": (0.0, 0.5, 1.0, 1.5, 2.0),
    "within": (0.0, 0.5, 1.0, 2.0),
    "repeat": (0.0, 0.05, 0.1, 0.2, 1.0),
}
OBJECTIVE = ("document", "passage", "passage-answer")
SHOWN = {"document": "doc", "document-distinct": "doc-dist", "passage": "passage", "passage-answer": "answer"}
"""The levels printed, with their column labels."""


def tune(work: Path, k: int = 40) -> dict[str, Any]:
    """Every point of `GRID` with its MRR@10 per level on both splits, best on the tune split first."""
    os.environ.update(tree_env(REPO, work / "product", work / "corpus"))
    from ingestctl.instance import CliContext
    from ingestion_assets.search import RANKING, Ranking, fetch_candidates, rank_candidates

    questions = json.loads((work / "corpus-questions.json").read_text())
    cli = CliContext.from_env()
    store, model = cli.store, cli.embedder
    started = time.perf_counter()
    vectors = model.encode([q["question"] for q in questions])
    candidates = {
        q["id"]: fetch_candidates(store, vector, q["question"], max(RANKING.depth, k))
        for q, vector in zip(questions, vectors, strict=True)
    }
    fetched = time.perf_counter() - started
    points = []
    for values in itertools.product(*GRID.values()):
        ranking = Ranking(**dict(zip(GRID, values, strict=True)), depth=RANKING.depth)
        hits = {}
        for qid, found in candidates.items():
            ranked = sorted(
                (h for doc in rank_candidates(found, ranking) for h in doc.passages), key=lambda h: -h.score
            )
            hits[qid] = [{"doc_id": h.doc_id, "section": h.section, "text": h.text} for h in ranked[:k]]
        levels = score(questions, hits)["levels"]
        mrr = {split: {level: levels[level][split]["mrr@10"] for level in SHOWN} for split in ("tune", "judge")}
        points.append(
            {
                "weights": dict(zip(GRID, values, strict=True)),
                "objective": round(sum(mrr["tune"][level] for level in OBJECTIVE), 3),
                "current": ranking == RANKING,
                **mrr,
            }
        )
    points.sort(key=lambda p: -p["objective"])
    return {"fetch_seconds": round(fetched, 1), "questions": len(questions), "points": points}


def format_points(points: list[dict], top: int) -> str:
    names = list(GRID)
    labels = " ".join(f"{label:>8}" for label in SHOWN.values())
    header = " ".join(f"{n:>9}" for n in names) + f" | objective | tune: {labels} | judge: {labels}"
    lines = [header, "-" * len(header)]
    shown = points[:top] + [p for p in points[top:] if p["current"]]
    for p in shown:
        row = " ".join(f"{p['weights'][n]:>9}" for n in names) + f" | {p['objective']:>9.3f} | tune: "
        row += " ".join(f"{p['tune'][s]:>8.3f}" for s in SHOWN) + " | judge: "
        row += " ".join(f"{p['judge'][s]:>8.3f}" for s in SHOWN)
        lines.append(row + ("  <- RANKING" if p["current"] else ""))
    lines.append(
        "objective: MRR@10 of document + passage + passage-answer on the tune split (levels as in retrieval.py)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work", type=Path, help="the work folder of a `bench/retrieval.py --modes product` run")
    parser.add_argument("--top", type=int, default=15, help="points shown, best first (and the current weights)")
    parser.add_argument("--k", type=int, default=40, help="results per question, as in retrieval.py")
    args = parser.parse_args()
    result = tune(args.work, args.k)
    print(f"{len(result['points'])} points, {result['questions']} questions, candidates in {result['fetch_seconds']} s")
    print(format_points(result["points"], args.top))
    (args.work / "retrieval-tune.json").write_text(json.dumps(result, indent=1))
    print(f"\nwritten: {args.work / 'retrieval-tune.json'}")


if __name__ == "__main__":
    main()
