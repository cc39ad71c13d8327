#!/usr/bin/env python
"""Web source crawl speed: a first crawl of a generated local site, then a re-crawl of the unchanged site.

The site (tests/web_site.py `large_site`: an index, sections linking to their pages, each page to its
neighbours, a sitemap of every page, no Crawl-delay) is served by the tests' HTTP server process on
127.0.0.1. The first crawl is `WebSource.list()` with a cache file and `--rps` requests per second (high
enough that pacing is not what limits it); it prints pages per second and where the time went
(`WebSource.stats`: HTTP requests and bodies, link extraction, hashing, cache read and write, pacing).
The re-crawl, by a new WebSource over the same cache file, prints its requests by kind, the bytes
downloaded and its seconds. The server is a Python `http.server`: its own time is inside "HTTP".

Usage::

    python bench/web_crawl.py [--pages 1000] [--work DIR] [--rps 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ingestion_assets.parsing.registry import supported_suffixes  # noqa: E402
from resources.sources.naming import NameRules  # noqa: E402
from resources.sources.web import CrawlStats, WebSettings, WebSource  # noqa: E402
from tests.web_site import WebSite, large_site  # noqa: E402

ACTIVITIES = ("http", "links", "hash", "cache_read", "cache_write", "wait")


def crawl(site: WebSite, settings: WebSettings) -> tuple[WebSource, int, float, int]:
    """One listing by a new source: the source, the documents listed, the seconds, the server's first log line."""
    mark = site.mark()
    source = WebSource(site.url("/docs/"), NameRules(frozenset(supported_suffixes())), 64 << 20, settings)
    started = time.perf_counter()
    scan = source.list()
    seconds = time.perf_counter() - started
    if scan.incomplete:
        print(f"  incomplete: {scan.incomplete}")
    return source, len(scan.files), seconds, mark


def breakdown(stats: CrawlStats, seconds: float) -> str:
    parts = [f"{name} {stats.seconds[name]:.2f} s ({stats.seconds[name] / seconds:.0%})" for name in ACTIVITIES]
    rest = seconds - sum(stats.seconds[name] for name in ACTIVITIES)
    return ", ".join([*parts, f"other {rest:.2f} s ({rest / seconds:.0%})"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument(
        "--work", type=Path, default=None, help="folder for the site and the cache (default: a temporary one)"
    )
    parser.add_argument("--rps", type=float, default=10_000.0, help="requests per second allowed to the crawler")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="web-crawl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "crawl.sqlite"
    cache.unlink(missing_ok=True)
    settings = WebSettings(
        requests_per_second=args.rps,
        max_depth=10,
        max_pages=10 * args.pages + 100,
        allowed_private_hosts=frozenset({"127.0.0.1"}),
        cache_path=cache,
    )

    started = time.perf_counter()
    with WebSite(work / "site", crawl_delay=0, populate=large_site(args.pages)) as site:
        print(f"site: {args.pages} pages generated and served in {time.perf_counter() - started:.1f} s ({site.base})")
        print(f"crawler: requests_per_second={args.rps:g}, max_depth=10, cache {cache}")

        source, documents, seconds, mark = crawl(site, settings)
        served = site.requests(mark)
        print(f"\nfirst crawl: {documents} documents in {seconds:.2f} s = {documents / seconds:.0f} pages/s")
        print(f"  requests: {dict(source.stats.requests)}, statuses {dict(source.stats.statuses)}")
        sent = sum(r.bytes for r in served)
        print(f"  downloaded: {source.stats.bytes / 2**20:.2f} MiB (server sent {sent / 2**20:.2f} MiB)")
        print(f"  time: {breakdown(source.stats, seconds)}")
        print(f"  cache file: {cache.stat().st_size / 2**20:.2f} MiB")
        source.close()

        source, documents, seconds, mark = crawl(site, settings)
        served = site.requests(mark)
        kinds = Counter(
            "robots" if r.path == "/robots.txt" else "sitemap" if r.path.endswith(".xml") else
            "conditional" if r.conditional else "unconditional"
            for r in served
        )  # fmt: skip
        print(f"\nre-crawl, nothing changed: {documents} documents in {seconds:.2f} s")
        print(f"  requests (server log): {dict(kinds)}, statuses {dict(Counter(r.status for r in served))}")
        print(f"  downloaded: {source.stats.bytes} bytes (server sent {sum(r.bytes for r in served)} bytes of bodies)")
        print(f"  time: {breakdown(source.stats, seconds)}")
        source.close()


if __name__ == "__main__":
    main()
