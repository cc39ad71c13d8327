#!/usr/bin/env python
"""Whole-command measurement for the benchmarks, and the helpers they share.

Run as a script, it runs a command and reports its whole wall time (interpreter start to exit),
exit code and peak RSS as JSON on the last line; `measure()` runs a command that way. With
`--probe-modules`, the command must be `ingestctl` arguments: it runs as `python -m ingestctl`
would, in a child interpreter that also reports whether torch / sentence-transformers were imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resources.sources.base import SourceFile
    from resources.tables import DocumentRow

REPO = Path(__file__).resolve().parent.parent
MARKER = "BENCH-MEASURE "
PROBE = (
    "import json, os, sys\n"
    "from ingestctl.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "with open(os.environ['BENCH_PROBE_FILE'], 'w') as f:\n"
    "    json.dump({m: m in sys.modules for m in ('torch', 'sentence_transformers')}, f)\n"
    "sys.exit(code)\n"
)


def measure(args: list[str], env: dict[str, str], probe: bool = False) -> tuple[dict, subprocess.CompletedProcess]:
    """The report of `args` run under this script from the repository root, and the finished process."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *(["--probe-modules"] if probe else []), *args]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    line = next((row for row in reversed(proc.stdout.splitlines()) if row.startswith(MARKER)), None)
    if line is None:
        raise RuntimeError(f"command failed: {args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(line.removeprefix(MARKER)), proc


def command_env(home: Path, db: Path, source: Path | str, **extra: str) -> dict[str, str]:
    """The environment of an `ingestctl` or `dagster` command of a benchmark: its instance, tables and source."""
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "LANCEDB_URI": str(db),
        "INGEST_SOURCE_DIR": str(source),
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        **extra,
    }


def dagster_home(path: Path) -> Path:
    """`path`, created, as a Dagster instance folder with the project's dagster.yaml."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", path / "dagster.yaml")
    return path


def text_document_row(file: SourceFile, uri: str, data: bytes) -> DocumentRow:
    """The `documents` row that ingestion leaves for a one-page text file (a scanned source file)."""
    from ingestion_assets.parsing import ParsedDocument

    mtime = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=file.mtime_ns // 1000)
    parsed = ParsedDocument("txt", data.decode(), [0])
    return parsed.row(file.key, uri, hashlib.sha256(data).hexdigest(), file.size_bytes, mtime, datetime.now(UTC))


def main() -> int:
    args = sys.argv[1:]
    probe = args[:1] == ["--probe-modules"]
    env = dict(os.environ)
    extra: dict = {}
    with tempfile.NamedTemporaryFile(suffix=".json") as probe_file:
        if probe:
            env["BENCH_PROBE_FILE"] = probe_file.name
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
            args = [sys.executable, "-c", PROBE, *args[1:]]
        started = time.perf_counter()
        code = subprocess.call(args, env=env)
        wall = time.perf_counter() - started
        if probe:
            extra = json.loads(Path(probe_file.name).read_text() or "{}")
    report = {
        "wall_s": round(wall, 3),
        "exit": code,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        **extra,
    }
    print(MARKER + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
