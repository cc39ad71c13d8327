#!/usr/bin/env python
"""Search worker of bench/retrieval.py: every question through the search of the code tree first on PYTHONPATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

HIT_FIELDS = ("doc_id", "section", "chunk_id", "page_start", "page_end", "score", "text")
LEGACY_SEARCHES = {"vector": {"hybrid": False}, "hybrid": {"hybrid": True}}
"""The searches of a tree whose `ingestion_assets.search` declares none: the `hybrid` flag of `search()`."""
LEGACY_DEFAULT = "hybrid"
"""What `ingestctl search` does without a flag in such a tree."""


def declared_searches(module: Any) -> tuple[dict[str, dict[str, Any]], str]:
    """The named searches of the tree and its default one.

    A tree may declare `SEARCH_MODES` in `ingestion_assets.search`: a mapping of names to the keyword
    arguments of `search()` that select them, or a sequence of names passed as `mode=`; and
    `DEFAULT_SEARCH_MODE`, the one `ingestctl search` uses without a flag. Every declared name becomes
    a column of the evaluation. A tree that declares nothing has `vector` and `hybrid`.
    """
    declared = getattr(module, "SEARCH_MODES", None)
    if isinstance(declared, Mapping):
        searches = {str(name): dict(kwargs) for name, kwargs in declared.items()}
    elif declared:
        searches = {str(name): {"mode": name} for name in declared}
    else:
        searches = dict(LEGACY_SEARCHES)
    default = str(getattr(module, "DEFAULT_SEARCH_MODE", LEGACY_DEFAULT))
    return searches, default if default in searches else next(iter(searches))


def api_searcher() -> tuple[dict[str, Callable[[str, int], list[Any]]], str, str]:
    """One function per named search, through `ingestion_assets.search.search` and the store and
    model that `ingestctl` builds from the environment."""
    import ingestion_assets.search as module
    from ingestctl.instance import CliContext

    cli = CliContext.from_env()
    store, model = cli.store, cli.embedder
    searches, default = declared_searches(module)

    def bind(kwargs: dict[str, Any]) -> Callable[[str, int], list[Any]]:
        return lambda query, k: module.search(store, model, query, k, **kwargs)

    return {name: bind(kwargs) for name, kwargs in searches.items()}, default, "ingestion_assets.search.search"


def cli_searcher() -> tuple[dict[str, Callable[[str, int], list[Any]]], str, str]:
    """`ingestctl search --json` (one process per query), for a tree whose search API moved."""

    def bind(flag: str) -> Callable[[str, int], list[Any]]:
        def call(query: str, k: int) -> list[Any]:
            command = [str(Path(sys.executable).parent / "ingestctl"), "search", query, "-k", str(k), "--json", flag]
            data = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
            return data["hits"] if isinstance(data, dict) else data

        return call

    return {"vector": bind("--vector"), "hybrid": bind("--hybrid")}, LEGACY_DEFAULT, "ingestctl search --json"


def as_dict(hit: Any) -> dict[str, Any]:
    if hasattr(hit, "to_dict"):
        hit = hit.to_dict()
    elif not isinstance(hit, Mapping):
        hit = vars(hit)
    return {name: hit[name] for name in HIT_FIELDS if name in hit}


def indexed_documents(uri: str) -> int:
    """Documents with at least one row in the `embeddings` table."""
    import lancedb

    try:
        table = lancedb.connect(uri).open_table("embeddings")
    except (FileNotFoundError, ValueError):
        return 0
    rows = table.search().select(["doc_id"]).limit(None).to_arrow()
    return len(set(rows.column("doc_id").to_pylist()))


def main() -> int:
    questions_file, out_file, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    questions = json.loads(Path(questions_file).read_text())
    indexed = indexed_documents(os.environ["LANCEDB_URI"])
    if not indexed:
        Path(out_file).write_text(json.dumps({"via": None, "default": None, "indexed_documents": 0, "searches": {}}))
        return 0
    try:
        searches, default, via = api_searcher()
        for call in searches.values():
            call("smoke test", 1)
    except Exception as exc:  # the API moved: the CLI is the stable contract
        print(f"search API not usable ({type(exc).__name__}: {exc}); using ingestctl search --json", file=sys.stderr)
        searches, default, via = cli_searcher()
    result: dict[str, Any] = {
        "via": via,
        "default": default,
        "indexed_documents": indexed,
        "searches": {},
    }
    for name, call in searches.items():
        hits: dict[str, list[dict]] = {}
        started = time.perf_counter()
        for q in questions:
            hits[q["id"]] = [as_dict(hit) for hit in call(q["question"], k)]
        seconds = time.perf_counter() - started
        result["searches"][name] = {"seconds": round(seconds, 2), "hits": hits}
    Path(out_file).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
