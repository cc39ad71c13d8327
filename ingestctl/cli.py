"""`ingestctl`: the command line of the ingestion product."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ingestctl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="ingest every new, changed or unfinished document under PATH")
    ingest.add_argument("path", nargs="?", help="folder to ingest (default: INGEST_SOURCE_DIR)")
    ingest.add_argument("--max-docs-per-run", type=int, help="documents per run (default INGEST_MAX_DOCS_PER_RUN)")
    ingest.add_argument("--log-level", default="INFO", help="Dagster console log level (default INFO)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "ingest":
        from ingestctl.ingest import run_ingest

        return run_ingest(args.path, args.max_docs_per_run, args.log_level)
    return 2


if __name__ == "__main__":
    sys.exit(main())
