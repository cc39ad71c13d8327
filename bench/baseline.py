#!/usr/bin/env python
"""Baseline: the product's ingestion work in one plain Python process, without Dagster runs.

Walks a folder, reads and hashes every supported file, parses it with the product's parser,
splits it with the product's chunker, embeds every chunk with the product's model and batch
size, and writes the `documents`, `chunks` and `embeddings` tables with the product's schemas,
one `replace_documents_rows` commit per table.

Usage::

    python bench/baseline.py CORPUS_DIR --lancedb URI [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def walk(root: Path, suffixes: set[str]) -> list[tuple[str, Path]]:
    """(document id, path) of every supported regular file under `root`, sorted by id.

    Hidden entries and symbolic links are skipped, as the product's scan does.
    """
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(folder, name)
            if name.startswith(".") or path.suffix.lower() not in suffixes or path.is_symlink():
                continue
            found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_baseline(corpus_dir: Path, lancedb_uri: str) -> dict[str, Any]:
    """Ingest every document under `corpus_dir` into a new LanceDB database at `lancedb_uri`.

    Returns timings in seconds per step (imports included in `wall_s`), counts and peak RSS.
    Documents the parser rejects are skipped and counted in `failed`.
    """
    started = time.perf_counter()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    t0 = time.perf_counter()
    import langchain_text_splitters  # noqa: F401
    import numpy as np
    import pyarrow as pa
    import pymupdf  # noqa: F401
    import sentence_transformers  # noqa: F401

    from ingestion_assets.chunking import TokenChunker
    from ingestion_assets.parsing import ParseError, parse_bytes, supported_suffixes
    from resources.chunker_config import ChunkerConfig
    from resources.embedding_model import EmbeddingModel
    from resources.lancedb_store import EMBEDDINGS, TABLES, LanceDBStore
    from resources.tables import ChunkRow, DocumentRow, EmbeddingRow

    import_s = time.perf_counter() - t0

    root = Path(corpus_dir).resolve()
    model = EmbeddingModel(batch_size=64, backend="torch")
    store = LanceDBStore(uri=lancedb_uri)
    existing = [name for name in TABLES if store.open_table(name) is not None]
    if existing:
        raise FileExistsError(f"{lancedb_uri} already holds {existing}; the baseline needs an empty database")

    t0 = time.perf_counter()
    doc_rows: list[DocumentRow] = []
    texts: dict[str, tuple[str, list[int]]] = {}
    failed: dict[str, str] = {}
    for doc_id, path in walk(root, set(supported_suffixes())):
        data = path.read_bytes()
        st = path.stat()
        try:
            doc = parse_bytes(doc_id, data)
        except ParseError as exc:
            failed[doc_id] = str(exc)
            continue
        texts[doc_id] = (doc.text, doc.page_offsets)
        mtime = _EPOCH + timedelta(microseconds=st.st_mtime_ns // 1000)
        sha256 = hashlib.sha256(data).hexdigest()
        doc_rows.append(doc.row(doc_id, path.as_uri(), sha256, st.st_size, mtime, datetime.now(UTC)))
    parse_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    chunker = TokenChunker.configured(ChunkerConfig(), model)
    chunks = [
        (doc_id, chunk) for doc_id, (text, offsets) in texts.items() for chunk in chunker.split(doc_id, text, offsets)
    ]
    chunk_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    model.load()
    model_load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    vectors = model.encode([chunk.embedded_text for _, chunk in chunks])
    embed_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    doc_ids = list(texts)
    dimensions = vectors.shape[1] if len(chunks) else model.dimensions
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    embedding_columns = {
        "chunk_id": [c.chunk_id for _, c in chunks],
        "doc_id": [d for d, _ in chunks],
        "vector": pa.FixedSizeListArray.from_arrays(flat, dimensions),
        "text": [c.text for _, c in chunks],
        "text_hash": [c.embedding_hash for _, c in chunks],
        "page_start": [c.page_start for _, c in chunks],
        "page_end": [c.page_end for _, c in chunks],
        "model": [model.model_id] * len(chunks),
        "section": [c.section for _, c in chunks],
    }
    store.replace_rows(DocumentRow, doc_rows, doc_ids)
    store.replace_rows(ChunkRow, [chunk for _, chunk in chunks], doc_ids)
    store.replace_documents_rows(
        EMBEDDINGS, pa.table(embedding_columns, schema=EmbeddingRow.schema(dimensions)), doc_ids
    )
    write_s = time.perf_counter() - t0

    wall_s = time.perf_counter() - started
    return {
        "wall_s": round(wall_s, 3),
        "import_s": round(import_s, 3),
        "parse_s": round(parse_s, 3),
        "chunk_s": round(chunk_s, 3),
        "model_load_s": round(model_load_s, 3),
        "embed_s": round(embed_s, 3),
        "write_s": round(write_s, 3),
        "documents": len(doc_ids),
        "failed": len(failed),
        "chunks": len(chunks),
        "unique_chunk_texts": len({c.text_hash for _, c in chunks}),
        "chunks_per_s": round(len(chunks) / embed_s, 1) if embed_s else 0.0,
        "end_to_end_chunks_per_s": round(len(chunks) / wall_s, 1) if wall_s else 0.0,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus_dir", type=Path)
    parser.add_argument("--lancedb", required=True, help="LanceDB URI (an empty or new folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = run_baseline(args.corpus_dir, args.lancedb)
    if args.json:
        print(json.dumps(result))
    else:
        width = max(map(len, result))
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
