"""The web source against a real HTTP server (tests/web_site.py): discovery, robots.txt, keys, redirects,
failures that stay alone, the private-address guard, conditional re-crawls, and documents hashed, read and
parsed by a process that never crawled."""

from __future__ import annotations

import gzip
import hashlib
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion_assets.parsing import parse_bytes
from ingestion_assets.parsing.registry import supported_suffixes
from resources.sources.base import DocumentTooLarge, FileChangedWhileReading, SourceReadError, SourceUnavailable
from resources.sources.naming import EXCLUDED, UNSUPPORTED_TYPE, NameRules
from resources.sources.web import (
    ALLOWED_PRIVATE_HOSTS_ENV,
    DISALLOWED,
    QUERY_STRING,
    REDIRECT_REFUSED,
    USER_AGENT,
    WebSettings,
    WebSource,
    allowed_hosts,
    parse_sitemap,
)
from tests.web_site import CHAIN, DEFAULT_DOCUMENTS, HUGE_BYTES, OTHER_HOST, PDF_TEXT, WebSite, page

RULES = NameRules(frozenset(supported_suffixes()))
MAX_BYTES = 64 << 10
TIMEOUT_S = 0.5
LOCAL = frozenset({"127.0.0.1"})
REDIRECTING = {"/docs/guide", "/docs/old-guide", "/docs/moved-out", "/docs/elsewhere"}
"""Paths of the default site that answer a redirect, asked again (unconditionally) by every crawl."""


def settings(**overrides) -> WebSettings:
    values = {
        "requests_per_second": 1000.0,
        "timeout_s": TIMEOUT_S,
        "max_response_s": 5.0,
        "max_depth": 10,
        "allowed_private_hosts": LOCAL,
    }
    return WebSettings(**(values | overrides))


def web_source(site: WebSite, path: str = "/docs/", rules: NameRules = RULES, **overrides) -> WebSource:
    return WebSource(site.url(path), rules, MAX_BYTES, settings(**overrides))


@pytest.fixture
def site(tmp_path) -> Iterator[WebSite]:
    with WebSite(tmp_path / "web") as running:
        yield running


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "crawl.sqlite"


def page_requests(site: WebSite, since: int = 0):
    """Requests for pages under /docs/ (not its sitemap)."""
    return [r for r in site.requests(since) if r.path.startswith("/docs/") and not r.path.endswith(".xml")]


def test_discovery_by_sitemaps_and_links_with_skips_and_redirects(site):
    source = web_source(site)
    scan = source.list()
    files = {f.key: f for f in scan.files}

    assert set(files) == DEFAULT_DOCUMENTS
    assert scan.incomplete == "" and scan.rejected == []
    assert [f.key for f in scan.files] == sorted(files)
    assert dict(scan.skipped) == {
        "search?q=term": QUERY_STRING,
        "search?q=sitemap": QUERY_STRING,
        "private/secret.html": DISALLOWED,
        "private/hidden.html": DISALLOWED,
        "archive.zip": UNSUPPORTED_TYPE,
        "download": UNSUPPORTED_TYPE,
        f"{site.url('/docs/moved-out')} -> {site.url('/blog/post.html')}": REDIRECT_REFUSED,
        f"{site.url('/docs/elsewhere')} -> {OTHER_HOST}/docs/page.html": REDIRECT_REFUSED,
    }
    faq = files["faq.html"]
    assert (faq.size_bytes, faq.mtime_ns, faq.path) == (
        len(site.body("/docs/faq.html")),
        site.last_modified_ns("/docs/faq.html"),
        None,
    )
    assert faq.etag and faq.etag.startswith('"')
    assert files["huge.html"].size_bytes > MAX_BYTES

    requests = site.requests()
    paths = Counter(r.path for r in requests)
    assert {r.user_agent for r in requests} == {USER_AGENT}
    assert requests[0].path == "/robots.txt"
    assert {"/sitemap_index.xml", "/sitemaps/pages.xml", "/sitemaps/more.xml", "/docs/sitemap.xml"} <= set(paths)
    assert max(paths.values()) == 1, "every URL is asked once"
    assert not [p for p in paths if p.startswith(("/docs/private/", "/outside/", "/blog/", "/docs/search"))]
    assert "/docs/never-reached.html" not in paths, "the links of a page over the size limit are not followed"
    assert paths["/docs/old-guide"] == paths["/docs/guide/advanced.html"] == 1
    assert "old-guide" not in files and "guide/advanced.html" in files
    source.close()


def test_keys_urls_scope_and_parse_name():
    source = WebSource("HTTPS://Example.org:443/docs/./", RULES, MAX_BYTES)
    assert source.location == "https://example.org/docs/"
    for key, url in {
        "index.html": "https://example.org/docs/",
        "guide/index.html": "https://example.org/docs/guide/",
        "guide/intro": "https://example.org/docs/guide/intro",
        "manual.pdf": "https://example.org/docs/manual.pdf",
        "a b/ü.html": "https://example.org/docs/a%20b/%C3%BC.html",
    }.items():
        assert source.url_for_key(key) == source.uri_for(key) == source.display(key) == url
        assert source.split(url) == (key, "")
    assert source.split("https://example.org/docs/guide/index.html#top") == ("guide/index.html", "")
    assert source.split("https://example.org/docs/x/../guide/") == ("guide/index.html", "")
    assert source.split("https://example.org/docs/search?q=1") == ("search", "q=1")
    for outside in (
        "https://example.org/blog/",
        "http://example.org/docs/",
        "https://example.org:8443/docs/",
        "https://other.org/docs/",
    ):
        assert source.split(outside) is None

    assert source.parse_name("guide/intro") == "guide/intro.html"
    assert source.parse_name("release-1.2") == "release-1.2.html"
    assert source.parse_name("guide/index.html") == "guide/index.html"
    assert source.parse_name("manual.pdf") == "manual.pdf"

    assert source.scope("https://example.org/docs/") == source.scope("https://example.org/docs") == ""
    assert source.scope("https://example.org/docs/guide/") == "guide/"
    for elsewhere in ("https://example.org/blog/", "https://other.org/docs/", "/srv/docs", "s3://bucket/docs/"):
        assert source.scope(elsewhere) is None

    by_sitemap = WebSource("https://example.org/docs/sitemap.xml", RULES, MAX_BYTES)
    assert by_sitemap.location == "https://example.org/docs/sitemap.xml"
    assert by_sitemap.uri_for("index.html") == "https://example.org/docs/"
    for bad in ("ftp://example.org/docs/", "https://example.org/docs/?lang=en", "https://user:pw@example.org/docs/"):
        with pytest.raises(SourceUnavailable):
            WebSource(bad, RULES, MAX_BYTES)


def test_sitemap_start_url_and_check(site):
    source = web_source(site, "/docs/sitemap.xml")
    source.check()
    mark = site.mark()
    keys = {f.key for f in source.list().files}
    assert keys == DEFAULT_DOCUMENTS
    assert [r.path for r in site.requests(mark)][:2] == ["/robots.txt", "/docs/sitemap.xml"]

    with pytest.raises(SourceUnavailable, match="404"):
        web_source(site, "/docs/no-such-sitemap.xml").check()
    with pytest.raises(SourceUnavailable, match=r"no-such-sitemap\.xml"):
        web_source(site, "/docs/no-such-sitemap.xml").list()
    with pytest.raises(SourceUnavailable, match=r"/nothing/.*404"):
        web_source(site, "/nothing/").check()


def test_depth_limit_and_page_limit(site):
    shallow = web_source(site, max_depth=2).list()
    keys = {f.key for f in shallow.files}
    assert {"chain/1.html", "chain/2.html"} <= keys and not keys & {f"chain/{i}.html" for i in range(3, CHAIN + 1)}
    assert shallow.incomplete == "", "a depth limit is a choice, not a failure"

    mark = site.mark()
    limited = web_source(site, max_pages=5).list()
    assert len(page_requests(site, mark)) == 5
    assert len(limited.files) <= 5
    assert "page limit" in limited.incomplete


def test_robots_rules_for_this_crawler_and_crawl_delay(tmp_path):
    def populate(site: WebSite) -> None:
        site.set_page(
            "/robots.txt",
            "User-agent: dagster-rag-ingest\nDisallow: /docs/b\nCrawl-delay: 0.1\n\nUser-agent: *\nDisallow: /\n",
        )
        site.set_page("/docs/", page("Start", ["a.html", "b.html", "c.html", "d.html", "e.html"]))
        for name in "abcde":
            site.set_page(f"/docs/{name}.html", page(name))

    with WebSite(tmp_path / "web", crawl_delay=0, populate=populate) as site:
        scan = web_source(site).list()
        assert {f.key for f in scan.files} == {"index.html", "a.html", "c.html", "d.html", "e.html"}
        assert dict(scan.skipped) == {"b.html": DISALLOWED}
        times = [r.t for r in site.requests()]
        assert len(times) >= 7
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        assert min(gaps) >= 0.1, gaps


def test_slow_and_oversized_pages_fail_alone(site, cache):
    first = web_source(site, cache_path=cache).list()
    assert "slow.html" in {f.key for f in first.files}
    site.slow("/docs/slow.html", 3 * TIMEOUT_S)
    site.unsized("/docs/huge.html")

    source = web_source(site)
    scan = source.list()
    keys = {f.key for f in scan.files}
    assert keys == DEFAULT_DOCUMENTS - {"slow.html"}
    assert site.url("/docs/slow.html") in scan.incomplete and f"no answer within {TIMEOUT_S:g} s" in scan.incomplete
    huge = next(f for f in scan.files if f.key == "huge.html")
    assert huge.size_bytes > MAX_BYTES
    assert source.stats.bytes < HUGE_BYTES, "a page without a Content-Length is cut off at the limit"
    with pytest.raises(DocumentTooLarge, match=site.url("/docs/huge.html")):
        source.content_hash("huge.html")
    with pytest.raises(SourceReadError, match=site.url("/docs/slow.html")):
        source.content_hash("slow.html")
    assert source.stat_fingerprint("huge.html") == {"size_bytes": huge.size_bytes, "mtime_ns": huge.mtime_ns}

    known = web_source(site, cache_path=cache).list()
    assert {f.key for f in known.files} == DEFAULT_DOCUMENTS, "a page known from the last crawl stays listed"
    assert site.url("/docs/slow.html") in known.incomplete
    with pytest.raises(DocumentTooLarge, match=r"too large.*huge\.html"):
        WebSource(site.url("/docs/"), RULES, MAX_BYTES, settings()).read("huge.html", "0" * 64)

    site.trickle("/docs/faq.html", 16, TIMEOUT_S / 2)
    started = time.monotonic()
    with pytest.raises(SourceReadError, match=r"faq\.html: no complete answer within 1 s"):
        web_source(site, max_response_s=1.0).content_hash("faq.html")
    assert time.monotonic() - started < 2, "a body trickled in within each read's timeout still ends in time"


def test_private_addresses_are_refused_unless_allowed(site):
    local = site.url("/docs/").replace("127.0.0.1", "localhost")
    for refused in (
        WebSource(local, RULES, MAX_BYTES, settings()),
        WebSource(site.url("/docs/"), RULES, MAX_BYTES, settings(allowed_private_hosts=frozenset())),
    ):
        with pytest.raises(SourceUnavailable, match=ALLOWED_PRIVATE_HOSTS_ENV):
            refused.check()
        with pytest.raises(SourceUnavailable, match=ALLOWED_PRIVATE_HOSTS_ENV):
            refused.list()
        with pytest.raises(SourceUnavailable, match=ALLOWED_PRIVATE_HOSTS_ENV):
            refused.content_hash("faq.html")
    assert site.requests() == []

    assert allowed_hosts(" 127.0.0.1, LocalHost ,[::1],") == {"127.0.0.1", "localhost", "::1"}
    WebSource(local, RULES, MAX_BYTES, settings(allowed_private_hosts=allowed_hosts("localhost"))).check()


def test_recrawl_of_an_unchanged_site_asks_only_conditionally(site, cache):
    first = web_source(site, cache_path=cache).list()
    mark = site.mark()
    again = web_source(site, cache_path=cache)
    second = again.list()

    assert second.files == first.files and second.skipped == first.skipped and second.incomplete == ""
    pages = page_requests(site, mark)
    unconditional = [r for r in pages if not r.conditional]
    assert {r.path for r in unconditional} == REDIRECTING | {"/docs/missing.html"}
    assert {r.status for r in unconditional} <= {301, 302, 404}
    assert {r.status for r in pages if r.conditional} == {304}
    assert sum(r.bytes for r in site.requests(mark) if r.status == 200) == len(site.body("/robots.txt"))
    assert again.stats.requests["conditional"] == len(pages) - len(unconditional)
    assert {r.path for r in site.requests(mark) if r.path.endswith(".xml")} == {
        "/sitemap_index.xml",
        "/sitemaps/pages.xml",
        "/sitemaps/more.xml",
        "/docs/sitemap.xml",
    }

    mark = site.mark()
    digest = again.content_hash("faq.html")
    assert digest.sha256 == hashlib.sha256(site.body("/docs/faq.html")).hexdigest()
    assert site.requests(mark) == [], "a page validated by the crawl is not asked again"


def test_edited_page_is_downloaded_again_and_deleted_page_disappears(site, cache):
    first = {f.key: f for f in web_source(site, cache_path=cache).list().files}
    site.set_page("/docs/faq.html", page("FAQ", ["./"], "Edited answers, longer than before."))
    site.delete("/docs/guide/intro")

    mark = site.mark()
    source = web_source(site, cache_path=cache)
    scan = source.list()
    files = {f.key: f for f in scan.files}
    assert scan.incomplete == ""
    assert set(files) == set(first) - {"guide/intro", "deep/only-from-intro.html"}
    faq = files["faq.html"]
    assert (faq.size_bytes, faq.mtime_ns) != (first["faq.html"].size_bytes, first["faq.html"].mtime_ns)
    asked = [r for r in site.requests(mark) if r.path == "/docs/faq.html"]
    assert [(r.conditional, r.status) for r in asked] == [(True, 200)]
    assert source.content_hash("faq.html").sha256 == hashlib.sha256(site.body("/docs/faq.html")).hexdigest()
    assert [(r.path, r.status) for r in site.requests(mark) if r.path == "/docs/guide/intro"] == [
        ("/docs/guide/intro", 404)
    ]


def test_a_failing_site_is_listed_incomplete_or_unavailable(site, cache):
    first = web_source(site, cache_path=cache).list()
    site.fail_all(500)

    scan = web_source(site, cache_path=cache).list()
    assert scan.files == first.files, "what the last crawl knew stays listed"
    assert "robots.txt unreachable (HTTP 500" in scan.incomplete
    assert f"{site.url('/docs/')}: HTTP 500" in scan.incomplete and "\n" not in scan.incomplete

    with pytest.raises(SourceUnavailable, match=r"robots\.txt cannot be read \(HTTP 500"):
        web_source(site).list()
    site.fail_all(500, spared=("/robots.txt",))
    with pytest.raises(SourceUnavailable, match=rf"{site.url('/docs/')} cannot be fetched: HTTP 500"):
        web_source(site).list()

    site.fail_all(None)
    site.stop()
    with pytest.raises(SourceUnavailable, match="connection failed"):
        web_source(site, cache_path=cache).list()


def test_a_fresh_process_hashes_reads_and_parses_documents(site, cache):
    web_source(site, cache_path=cache).list()
    pdf = site.body("/docs/manual.pdf")

    mark = site.mark()
    fresh = web_source(site, cache_path=cache)
    assert fresh.stat_fingerprint("manual.pdf")["size_bytes"] == len(pdf)
    digest = fresh.content_hash("manual.pdf")
    assert digest.sha256 == hashlib.sha256(pdf).hexdigest() and digest.size_bytes == len(pdf)
    assert [(r.conditional, r.status) for r in site.requests(mark)] == [(True, 304)]
    data = fresh.read("manual.pdf", digest.sha256)
    assert data == pdf
    assert [(r.conditional, r.status) for r in site.requests(mark)][1:] == [(False, 200)]
    assert PDF_TEXT in parse_bytes(fresh.parse_name("manual.pdf"), data).text
    fresh.close()

    mark = site.mark()
    uncached = web_source(site)
    assert uncached.stat_fingerprint("guide/intro") == {}
    digest = uncached.content_hash("guide/intro")
    data = uncached.read("guide/intro", digest.sha256)
    assert len(site.requests(mark)) == 1, "hashed then read: downloaded once"
    assert "Introduction" in parse_bytes(uncached.parse_name("guide/intro"), data).text
    with pytest.raises(FileChangedWhileReading, match=site.url("/docs/guide/intro")):
        uncached.read("guide/intro", "0" * 64)
    with pytest.raises(FileNotFoundError, match=site.url("/docs/missing.html")):
        uncached.content_hash("missing.html")
    assert uncached.content_hash("guide/index.html").sha256 == hashlib.sha256(site.body("/docs/guide/")).hexdigest()


def test_patterns_under_and_a_corrupt_cache(site, cache):
    cache.write_bytes(b"this is not a SQLite database" * 100)
    rules = NameRules(RULES.suffixes, exclude="guide/intro*")
    source = web_source(site, rules=rules, cache_path=cache)
    scan = source.list()
    keys = {f.key for f in scan.files}
    assert "guide/intro" not in keys and ("guide/intro", EXCLUDED) in scan.skipped
    assert "deep/only-from-intro.html" in keys, "an excluded page is still crawled for its links"
    assert not [r for r in page_requests(site) if r.conditional], "a corrupt cache is a full crawl"
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT count(*) FROM web_crawl_state").fetchone()[0] > len(keys)

    under = web_source(site, cache_path=cache).list(under="guide/")
    assert {f.key for f in under.files} == {"guide/index.html", "guide/intro", "guide/advanced.html"}
    assert under.under == "guide/" and under.skipped == []


def test_sitemaps_are_read_without_entities_and_may_be_gzipped(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read me")
    external = f"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY file SYSTEM "{secret.as_uri()}">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://example.org/docs/&file;</loc><lastmod>2024-01-02</lastmod></url>
</urlset>
""".encode()
    assert parse_sitemap(external) == [["https://example.org/docs/", 1704153600 * 10**9]]

    laughs = "".join(f'<!ENTITY e{i} "{f"&e{i - 1};" * 30 if i else "a" * 100}">' for i in range(6))
    bomb = f"""<?xml version="1.0"?><!DOCTYPE urlset [{laughs}]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://example.org/&e5;</loc></url></urlset>"""
    started = time.monotonic()
    try:
        links = parse_sitemap(bomb.encode())
    except ValueError:
        links = []
    assert time.monotonic() - started < 1 and all(len(url) < 100 for url, _ in links)

    index = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://example.org/a.xml</loc></sitemap></sitemapindex>"""
    assert parse_sitemap(gzip.compress(index)) == [["https://example.org/a.xml", ""]]
    with pytest.raises(ValueError, match="neither"):
        parse_sitemap(b"<html><body>not a sitemap</body></html>")
