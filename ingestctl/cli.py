"""ingestctl: ingest documents into LanceDB through Dagster, and inspect, search and verify the result."""

from __future__ import annotations

import argparse
import os
import sys

from ingestctl import collector


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ingestctl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="ingest every new, changed or unfinished document under PATH")
    ingest.add_argument(
        "path",
        nargs="?",
        help="folder or s3://bucket/prefix/ to ingest (default: every source, INGEST_SOURCE_DIR and sources.yaml's)",
    )
    ingest.add_argument("--source", metavar="NAME", help="only this source (`default`, or a name in sources.yaml)")
    ingest.add_argument("--max-docs-per-run", type=int, help="documents per run (default INGEST_MAX_DOCS_PER_RUN)")
    ingest.add_argument(
        "--log-level",
        default="progress",
        help="`progress` (the default): progress and a summary; DEBUG, INFO, WARNING, ERROR: Dagster's log lines too",
    )
    ingest.add_argument("--json", action="store_true", help="print only a JSON summary on stdout (no progress)")
    ingest.add_argument(
        "--keep-deleted",
        action="store_true",
        help="keep the rows of documents whose file is gone (default: purge them; INGEST_KEEP_DELETED)",
    )

    confirm = sub.add_parser(
        "confirm-deletions",
        help="confirm a mass deletion held by the guard: the next listing purges the documents no longer listed",
    )
    confirm.add_argument("path", nargs="?", help="folder or s3://bucket/prefix/ (default: the whole source)")
    confirm.add_argument("--source", metavar="NAME", help="the source (default: `default`, INGEST_SOURCE_DIR)")

    drop = sub.add_parser(
        "drop-source",
        help="remove everything of a source no longer in sources.yaml: its rows, partitions and asset history",
    )
    drop.add_argument("name", help="the source's name")
    drop.add_argument("--yes", action="store_true", help="do it (without it, only say what would be removed)")

    status = sub.add_parser("status", help="per-document, per-phase state from Dagster's records")
    status.add_argument("docs", nargs="*", metavar="DOC", help="document ids (default: all)")
    status.add_argument("--source", metavar="NAME", help="only the documents of this source")
    status.add_argument("--json", action="store_true")
    status.add_argument("--failed", action="store_true", help="only documents with a failed phase")
    status.add_argument(
        "--skipped", action="store_true", help="the files of the last listing that are not documents, with the reason"
    )

    search = sub.add_parser("search", help="search the embeddings: ranked by document (the default), hybrid or vector")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5, help="number of hits, or of documents with --documents (default 5)")
    mode = search.add_mutually_exclusive_group()
    mode.add_argument(
        "--mode",
        metavar="MODE",
        help="`ranked` (the default: similarity and full-text score, documents also judged by their opening "
        "passage, few passages of one document at the top), `hybrid` or `vector`",
    )
    mode.add_argument(
        "--hybrid",
        dest="mode",
        action="store_const",
        const="hybrid",
        help="vector + full-text (BM25), fused by reciprocal rank (--mode hybrid)",
    )
    mode.add_argument(
        "--vector", dest="mode", action="store_const", const="vector", help="cosine similarity only (--mode vector)"
    )
    search.add_argument(
        "--documents", action="store_true", help="the best documents, each with its best passages and their sections"
    )
    search.add_argument(
        "--passages", type=int, default=3, metavar="N", help="passages per document with --documents (default 3)"
    )
    search.add_argument("--source", metavar="NAME", help="only passages of this source's documents")
    search.add_argument("--json", action="store_true")

    retry = sub.add_parser("retry", help="re-run failed documents (--failed) or named ones")
    retry.add_argument("docs", nargs="*", metavar="DOC")
    retry.add_argument("--failed", action="store_true", help="every document with a failed phase")
    retry.add_argument("--log-level", default="progress", help="as for ingest")

    metrics = sub.add_parser("metrics", help="serve Prometheus metrics of the instance and the tables on /metrics")
    metrics.add_argument("--listen", default="127.0.0.1:9464", help="HOST:PORT to listen on (default 127.0.0.1:9464)")

    report = sub.add_parser("report", help="totals, checks, drift and sample queries; exit 1 unless ready_for_queries")
    report.add_argument("--json", action="store_true")
    report.add_argument("--refresh", action="store_true", help="make a new report even when the latest one is current")
    return parser


EVENT_BATCH_SIZE = "1000"


def main(argv: list[str] | None = None) -> int:
    collector.pause_for_startup()
    # The one setting of this process's environment: Dagster reads it whenever a run is created, and
    # then writes the run's planned events (one per document and phase) in batches of this size
    # (`make` exports the same for `dagster dev`).
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
    parser = build_parser()
    args = parser.parse_args(argv)
    from resources.sources.base import SourceUnavailable

    try:
        return _run(parser, args)
    except SourceUnavailable as exc:
        # A source that does not exist or cannot be listed is never "0 documents".
        print(f"ingestctl {args.command}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`ingestctl status | head`): stop quietly, as other Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        collector.skip_at_exit()


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "ingest":
        from ingestctl.ingest import run_ingest

        return run_ingest(args.path, args.max_docs_per_run, args.log_level, args.keep_deleted, args.json, args.source)
    if args.command == "confirm-deletions":
        from ingestctl.ingest import run_confirm_deletions

        return run_confirm_deletions(args.path, args.source)
    if args.command == "drop-source":
        from ingestctl.sources import run_drop_source

        return run_drop_source(args.name, args.yes)
    if args.command == "retry":
        if bool(args.docs) == args.failed:
            parser.error("retry takes either --failed or document ids")
        from ingestctl.ingest import run_retry

        return run_retry(args.docs, args.failed, args.log_level)
    if args.command == "metrics":
        from ingestctl.metrics import run_metrics

        return run_metrics(args.listen)
    from ingestctl import query

    if args.command == "status":
        if args.skipped:
            return query.run_skipped(args.json, args.source)
        return query.run_status(args.docs, args.json, args.failed, args.source)
    if args.command == "search":
        return query.run_search(
            args.query, args.k, args.mode, args.json, args.source, documents=args.documents, passages=args.passages
        )
    return query.run_report(args.json, args.refresh)


if __name__ == "__main__":
    sys.exit(main())
