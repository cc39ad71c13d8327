#!/usr/bin/env python
"""Run a command and report its whole wall time (interpreter start to exit), exit code and peak RSS
as JSON on the last line.

With `--probe-modules`, the command must be `ingestctl` arguments: it runs as `python -m ingestctl`
would, in a child interpreter that also reports whether torch / sentence-transformers were imported.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, os, sys\n"
    "from ingestctl.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "with open(os.environ['BENCH_PROBE_FILE'], 'w') as f:\n"
    "    json.dump({m: m in sys.modules for m in ('torch', 'sentence_transformers')}, f)\n"
    "sys.exit(code)\n"
)


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
    print("BENCH-MEASURE " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
