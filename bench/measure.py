#!/usr/bin/env python
"""Run a command and report its wall time, exit code and peak RSS as JSON on the last line.

With `--probe-modules`, the command must be `ingestctl` arguments: it runs in this process
(as `python -m ingestctl` would) and the report says whether torch / sentence-transformers were
imported.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    args = sys.argv[1:]
    probe = args[:1] == ["--probe-modules"]
    started = time.perf_counter()
    if probe:
        sys.path.insert(0, str(REPO))
        from ingestctl.cli import main as ingestctl

        code = ingestctl(args[1:])
        maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        extra = {m: m in sys.modules for m in ("torch", "sentence_transformers")}
    else:
        code = subprocess.call(args)
        maxrss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        extra = {}
    report = {
        "wall_s": round(time.perf_counter() - started, 3),
        "exit": code,
        "peak_rss_mb": round(maxrss_kb / 1024, 1),
        **extra,
    }
    print("BENCH-MEASURE " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
