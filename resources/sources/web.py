"""A website as a source: the pages and linked documents under one URL prefix, crawled politely over HTTP(S).

`https://host/docs/` (or a sitemap inside it, `https://host/docs/sitemap.xml`) makes `/docs/` the prefix.
Only that origin (scheme, host and port) is ever contacted, and only URLs under the prefix are documents.

Keys. A document's partition key is its URL path under the prefix, percent-decoded. A URL ending in `/`
is the key `<path>/index.html` (the prefix itself is `index.html`), and the key `<path>/index.html` is
fetched as `<path>/`: `/docs/guide/` and `/docs/guide/index.html` are one document, `guide/index.html`.
A page whose suffix no parser reads keeps its key (`guide/intro`) and is parsed as HTML (`parse_name`).
Fragments are dropped; a URL with a query string is not a document. `url_for_key` turns a key back into
its URL, so a process that never crawled can hash and read a document.

Discovery. robots.txt is obeyed for this crawler's User-Agent (Disallow, Crawl-delay). Sitemaps (those
robots.txt names, `<prefix>sitemap.xml`, a sitemap start URL; indexes nested) and the `<a href>` links of
HTML pages (breadth-first, up to `max_depth` hops) find the documents; a file with a parser's suffix
(PDF, DOCX, ...) is a document whose content is not searched for links. Pages excluded by the include /
exclude patterns are fetched for their links but not listed. A redirect inside the prefix leads to its
target's key; any other redirect is refused.

Failures. A URL answering 404 or 410 (or another 4xx but 401, 403, 408 and 429) is gone: not listed.
One that may come back (5xx, 401/403/408/429, timeout, network error), an unreachable robots.txt or
sitemap, or the page limit makes the listing incomplete (`Scan.incomplete`, deletions are held), and a
page known from the last crawl is then listed, and its links followed, as it was. A document over the
size limit is listed, its run fails it as too large, and its links are not followed. A start page (or
sitemap) that gives no answer, or answers an error when nothing is known of it, is SourceUnavailable.

Re-crawls. With a cache file (`WebSettings.cache_path`, SQLite) each URL's ETag, Last-Modified, sha256,
size, mtime and links are kept, so a re-crawl asks with If-None-Match / If-Modified-Since and a 304 is
listed, and its links followed, from the cache without downloading the page again.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import socket
import sqlite3
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from resources.sources.base import (
    ContentHash,
    FileChangedWhileReading,
    Scan,
    Source,
    SourceFile,
    SourceReadError,
    SourceUnavailable,
)
from resources.sources.bucket import BODIES_KEPT_BYTES, HASHES_KEPT, BoundedCache
from resources.sources.naming import (
    DISALLOWED,
    HIDDEN,
    QUERY_STRING,
    REDIRECT_REFUSED,
    UNSUPPORTED_TYPE,
    InvalidDocumentName,
    NameRules,
    partition_key_for,
)

log = logging.getLogger(__name__)

USER_AGENT = "dagster-rag-ingest/0.1 (document ingestion crawler)"
"""What every request sends; robots.txt groups match its first word, `dagster-rag-ingest`."""
ALLOWED_PRIVATE_HOSTS_ENV = "INGEST_WEB_ALLOWED_PRIVATE_HOSTS"


MAX_REDIRECTS = 5
ROBOTS_MAX_BYTES = 512 << 10
SITEMAP_MAX_BYTES = 50 << 20
"""The sitemap protocol's limit, uncompressed."""
MAX_SITEMAPS = 1000
ERROR_BODY_KEPT = 64 << 10
"""An error or redirect body longer than this is not read: the connection is dropped instead."""
HTML_SUFFIXES = frozenset({".html", ".htm"})
PAGE_SUFFIXES = frozenset({".php", ".asp", ".aspx", ".jsp", ".jspx", ".shtml", ".xhtml", ".cgi", ".cfm"})
"""Suffixes of URLs that name pages rather than files."""
HTML_TYPES = ("text/html", "application/xhtml+xml")
REDIRECTS = frozenset({301, 302, 303, 307, 308})
GONE = frozenset({404, 410})
MAY_COME_BACK_4XX = frozenset({401, 403, 408, 429})
_FILE_SUFFIX = re.compile(r"\.[a-z][a-z0-9]{0,7}")
_URL_SAFE = "/!$&'()*+,;=:@-._~"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def allowed_hosts(value: str) -> frozenset[str]:
    """The hosts of a comma-separated INGEST_WEB_ALLOWED_PRIVATE_HOSTS value, as URLs spell them (lower case)."""
    return frozenset(h.strip().strip("[]").lower() for h in value.split(",") if h.strip())


@dataclass(frozen=True)
class WebSettings:
    """How a site is crawled: its limits, its politeness, the private hosts allowed and the re-crawl cache."""

    max_depth: int = 5
    """Link hops followed from the start page (sitemap entries count as the start page)."""
    max_pages: int = 10_000
    """URLs fetched by one listing; a site with more is listed incomplete."""
    requests_per_second: float = 2.0
    """Per host; robots.txt's Crawl-delay, when longer, wins."""
    timeout_s: float = 20.0
    """To connect, and between two reads of one answer."""
    max_response_s: float = 300.0
    """For one whole answer."""
    user_agent: str = USER_AGENT
    allowed_private_hosts: frozenset[str] = frozenset()
    """Hosts (as the URL spells them) that may resolve to private, loopback, link-local or reserved
    addresses: INGEST_WEB_ALLOWED_PRIVATE_HOSTS."""
    cache_path: Path | None = None
    """SQLite file keeping the last crawl's per-URL state, for conditional re-crawls; None keeps nothing."""


@dataclass
class CrawlStats:
    """What the last `list` (and the hashes and reads since) cost: requests, bytes and seconds by activity."""

    requests: Counter = field(default_factory=Counter)
    """By kind: robots, sitemap, conditional, unconditional."""
    statuses: Counter = field(default_factory=Counter)
    """By HTTP status; 0 for no answer."""
    bytes: int = 0
    """Bytes of bodies received (decoded)."""
    seconds: Counter = field(default_factory=Counter)
    """http (requests and bodies), wait (pacing), links (link extraction), hash, cache_read, cache_write."""


@dataclass
class UrlState:
    """What a crawl knows of one URL: its validators, its content's fingerprint and its links."""

    url: str
    kind: str
    """page (HTML, searched for links), file (a document of another type), other (not a document),
    redirect (links: its target), sitemap (links: `[child sitemap, ""]` and `[page URL, lastmod ns]`)
    or robots (links: the body)."""
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None
    """None when over the size limit."""
    size: int = 0
    mtime_ns: int = 0
    links: list = field(default_factory=list)


@dataclass
class _Got:
    """One answer: its status (0 for none, with `error`), validators and body."""

    url: str
    status: int = 0
    reason: str = ""
    error: str = ""
    body: bytes = b""
    too_large: int = 0
    """The size (at least) of a body over the limit, which was not kept."""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""
    location: str = ""
    """The absolute target of a redirect that was not followed."""
    hops: int = 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def what(self) -> str:
        """The failure in words: `HTTP 503 Service Unavailable` or the network error."""
        if self.error:
            return self.error
        return f"HTTP {self.status} {self.reason}".strip()


class _AddressRefused(ValueError):
    pass


class WebSource(Source):
    """A site under one URL prefix. `list` crawls it (robots.txt, sitemaps, links); a document is
    downloaded at most once per process to be hashed and read (bodies kept bounded until `close`);
    with a cache file, a re-crawl of an unchanged site downloads no page again."""

    lists_cheaply = False

    def __init__(self, url: str, rules: NameRules, max_bytes: int, settings: WebSettings | None = None) -> None:
        super().__init__(rules, max_bytes)
        self.settings = settings or WebSettings()
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise SourceUnavailable(f"document source {url!r}: not an http(s)://host/path/ URL")
        if parts.username or parts.password:
            raise SourceUnavailable(f"document source {url!r}: credentials in the URL are not supported")
        if parts.query:
            raise SourceUnavailable(f"document source {url!r}: a URL with a query string cannot be a prefix")
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError as exc:
            raise SourceUnavailable(f"document source {url!r}: {exc}") from exc
        self.host = parts.hostname.lower()
        self._origin_key = (scheme, self.host, port)
        shown_host = f"[{self.host}]" if ":" in self.host else self.host
        self.origin = f"{scheme}://{shown_host}" + ("" if port == _DEFAULT_PORTS[scheme] else f":{port}")
        path = _remove_dot_segments(parts.path or "/")
        try:
            decoded = unquote(path, errors="strict")
        except UnicodeDecodeError as exc:
            raise SourceUnavailable(f"document source {url!r}: the path is not UTF-8") from exc
        self.prefix = decoded[: decoded.rindex("/") + 1]
        name = decoded[len(self.prefix) :]
        self.sitemap_url = self.origin + quote(decoded, safe=_URL_SAFE) if _is_sitemap_name(name) else None
        self.start_key = None if self.sitemap_url else self._key_of(decoded)
        self._location = self.sitemap_url or self.url_for_key(self.start_key or "index.html")
        self.robots_url = self.origin + "/robots.txt"
        self.stats = CrawlStats()
        self.hashes = BoundedCache(HASHES_KEPT)
        """key -> UrlState validated by this process (fetched, or answered 304)."""
        self.bodies = BoundedCache(BODIES_KEPT_BYTES, cost=len)
        self._cache = CrawlCache(self.settings.cache_path, self._location)
        self._listed: dict[str, UrlState] = {}
        self._session_obj: Any = None
        self._lock = threading.RLock()
        self._next_at = 0.0
        self._crawl_delay: float | None = None
        self._host_checked = False

    # ---- names -----------------------------------------------------------------------------------

    @property
    def location(self) -> str:
        return self._location

    def url_for_key(self, key: str) -> str:
        """The URL of a key: `guide/index.html` is `<prefix>guide/`, `index.html` the prefix itself."""
        rel = key
        if rel == "index.html":
            rel = ""
        elif rel.endswith("/index.html"):
            rel = rel[: -len("index.html")]
        return self.origin + quote(self.prefix + rel, safe=_URL_SAFE)

    def uri_for(self, key: str) -> str:
        return self.url_for_key(key)

    def display(self, key: str) -> str:
        return self.url_for_key(key)

    def parse_name(self, key: str) -> str:
        """The key if a parser reads its suffix, else the key as an HTML page (`guide/intro.html`)."""
        if PurePosixPath(key).suffix.lower() in self.rules.suffixes:
            return key
        return key + ".html"

    def scope(self, target: str) -> str | None:
        value = target.strip()
        if not value.lower().startswith(("http://", "https://")):
            return None
        decoded = self._path_under_origin(value)
        if decoded is None:
            return None
        if decoded + "/" == self.prefix:
            return ""
        return decoded[len(self.prefix) :] if decoded.startswith(self.prefix) else None

    def split(self, url: str) -> tuple[str, str] | None:
        """(key, query) of an absolute URL under the prefix, or None for any other URL. The key is not
        checked as a partition key."""
        decoded = self._path_under_origin(url)
        if decoded is None or not decoded.startswith(self.prefix):
            return None
        return self._key_of(decoded), urlsplit(url).query

    def _key_of(self, decoded_path: str) -> str:
        rel = decoded_path[len(self.prefix) :]
        return rel + "index.html" if rel == "" or rel.endswith("/") else rel

    def _path_under_origin(self, url: str) -> str | None:
        """The decoded, dot-segment-free path of a URL of this origin, or None."""
        try:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            port = parts.port or _DEFAULT_PORTS.get(scheme)
        except ValueError:
            return None
        if (scheme, (parts.hostname or "").lower(), port) != self._origin_key or parts.username or parts.password:
            return None
        path = _remove_dot_segments(parts.path or "/")
        if "%2f" in path.lower():
            return None
        try:
            return unquote(path, errors="strict")
        except UnicodeDecodeError:
            return None

    def _kind_of(self, key: str) -> str | None:
        """page, file, or None for a suffix no parser reads."""
        suffix = PurePosixPath(key).suffix.lower()
        if (
            not suffix
            or suffix in HTML_SUFFIXES
            or suffix in PAGE_SUFFIXES
            or (suffix not in self.rules.suffixes and not _FILE_SUFFIX.fullmatch(suffix))
        ):
            return "page"
        return "file" if suffix in self.rules.suffixes else None

    # ---- the source ------------------------------------------------------------------------------

    def check(self) -> None:
        self._check_host()
        start = self.sitemap_url or self.url_for_key(self.start_key or "index.html")
        follow = self._same_origin if self.sitemap_url else self._in_prefix
        got = self._fetch(start, kind="sitemap" if self.sitemap_url else "page", follow=follow, read_body=False)
        if got.status in REDIRECTS:
            raise SourceUnavailable(
                f"document source {start} redirects outside {self.origin}{self.prefix}: {got.location}"
            )
        if not got.ok:
            raise SourceUnavailable(f"document source {start} cannot be fetched: {got.what}")
        robots = self._fetch(self.robots_url, kind="robots", limit=ROBOTS_MAX_BYTES)
        if robots.ok and not _robots(robots.body.decode("utf-8", "replace")).can_fetch(start, self.settings.user_agent):
            raise SourceUnavailable(
                f"document source {start}: {self.robots_url} disallows it for {self.settings.user_agent}"
            )

    def list(self, under: str = "") -> Scan:
        self.stats = CrawlStats()
        self.hashes.clear()
        self._check_host()
        started = time.perf_counter()
        known = self._cache.load()
        self.stats.seconds["cache_read"] += time.perf_counter() - started
        crawl = _Crawl(self, known)
        crawl.run()
        self._listed = crawl.state
        started = time.perf_counter()
        self._cache.save(crawl.state.values())
        self.stats.seconds["cache_write"] += time.perf_counter() - started
        files = sorted((f for k, f in crawl.files.items() if k.startswith(under)), key=lambda f: f.key)
        skipped = sorted((name, reason) for name, reason in crawl.skipped.items() if name.startswith(under))
        rejected = sorted(r for r in crawl.rejected if r[0].startswith(under))
        return Scan(files, rejected, skipped, under, crawl.incomplete())

    def content_hash(self, key: str, listed: SourceFile | None = None) -> ContentHash:
        partition_key_for(key)
        state = self.hashes.get(key)
        if state is None:
            state = self._refresh(key)
        if state.sha256 is None:
            raise self.too_large(state.size, self.url_for_key(key))
        return ContentHash(state.sha256, state.size, state.mtime_ns)

    def read(self, key: str, content_hash: str) -> bytes:
        partition_key_for(key)
        url = self.url_for_key(key)
        data = self.bodies.get((key, content_hash), pop=True)
        if data is None:
            self._check_host()
            data = self._document(key, self._fetch_document(url, None)).body
        if hashlib.sha256(data).hexdigest() != content_hash:
            raise FileChangedWhileReading(url)
        return data

    def stat_fingerprint(self, key: str) -> dict[str, int]:
        state = (
            self.hashes.get(key) or self._listed.get(self.url_for_key(key)) or self._cache.get(self.url_for_key(key))
        )
        if state is None or state.kind not in ("page", "file"):
            return {}
        return {"size_bytes": state.size, "mtime_ns": state.mtime_ns}

    def close(self) -> None:
        """Drop the downloaded bytes and close the HTTP connections."""
        self.bodies.clear()
        with self._lock:
            if self._session_obj is not None:
                self._session_obj.close()
                self._session_obj = None

    # ---- one document ----------------------------------------------------------------------------

    def _refresh(self, key: str) -> UrlState:
        """Fetch a document (conditionally when the cache knows it), remember its hash and keep its body."""
        self._check_host()
        url = self.url_for_key(key)
        prior = self._cache.get(url)
        if prior is not None and prior.kind not in ("page", "file"):
            prior = None
        got = self._fetch_document(url, prior)
        if got.status == 304 and prior is not None:
            state = prior
        else:
            got = self._document(key, got)
            state = self._state_of(url, self._kind_of(key) or "file", got, prior, 0)
            if state.sha256 is not None:
                self.bodies.put((key, state.sha256), got.body)
        self.hashes.put(key, state)
        return state

    def _fetch_document(self, url: str, prior: UrlState | None) -> _Got:
        got = self._fetch(url, kind="page", prior=prior, limit=self.max_bytes, follow=self._in_prefix)
        if got.status in REDIRECTS:
            raise SourceReadError(f"{url}: redirect refused, to {got.location}")
        return got

    def _document(self, key: str, got: _Got) -> _Got:
        """A successful answer, or the error a failed document is recorded with, naming the URL."""
        url = got.url
        if got.too_large:
            raise self.too_large(got.too_large, url)
        if got.ok:
            return got
        if got.status in GONE:
            raise FileNotFoundError(f"{url}: {got.what}: the page is gone")
        if got.status in (401, 403):
            raise PermissionError(f"{url}: {got.what}")
        raise SourceReadError(f"{url}: {got.what}")

    def _in_prefix(self, url: str) -> bool:
        found = self.split(url)
        return found is not None and not found[1]

    def _state_of(self, url: str, kind: str, got: _Got, prior: UrlState | None, lastmod_ns: int) -> UrlState:
        """The state of a successful answer: its hash (timed) and an mtime that changes with its content."""
        if got.too_large:
            mtime = _http_date_ns(got.last_modified) or lastmod_ns or (prior.mtime_ns if prior else 0)
            return UrlState(url, kind, got.etag, got.last_modified, None, got.too_large, mtime)
        started = time.perf_counter()
        digest = hashlib.sha256(got.body).hexdigest()
        self.stats.seconds["hash"] += time.perf_counter() - started
        size = len(got.body)
        mtime = _http_date_ns(got.last_modified) or lastmod_ns
        if prior is not None and prior.sha256 == digest:
            mtime = mtime or prior.mtime_ns
        elif prior is not None and (not mtime or (size, mtime // 1000) == (prior.size, prior.mtime_ns // 1000)):
            mtime = time.time_ns()
        return UrlState(url, kind, got.etag, got.last_modified, digest, size, mtime)

    # ---- HTTP ------------------------------------------------------------------------------------

    def _fetch(
        self,
        url: str,
        *,
        kind: str,
        prior: UrlState | None = None,
        limit: int = ERROR_BODY_KEPT,
        follow: Callable[[str], bool] | None = None,
        read_body: bool = True,
    ) -> _Got:
        """One GET, following the redirects `follow` accepts (at most MAX_REDIRECTS); an answer that is
        a redirect not followed carries its target in `location`."""
        follow = follow or self._same_origin
        hops = 0
        while True:
            got = self._request(url, kind=kind, prior=prior, limit=limit, read_body=read_body)
            got.hops = hops
            if got.status not in REDIRECTS or not got.location:
                return got
            if hops >= MAX_REDIRECTS or not follow(got.location):
                return got
            url, hops = got.location, hops + 1

    def _same_origin(self, url: str) -> bool:
        return self._path_under_origin(url) is not None

    def _request(self, url: str, *, kind: str, prior: UrlState | None, limit: int, read_body: bool) -> _Got:
        import requests

        headers = {}
        if prior is not None and prior.etag:
            headers["If-None-Match"] = prior.etag
        if prior is not None and prior.last_modified:
            headers["If-Modified-Since"] = prior.last_modified
        if kind not in ("robots", "sitemap"):
            kind = "conditional" if headers else "unconditional"
        self.stats.requests[kind] += 1
        got = _Got(url)
        cut = threading.Event()
        with self._lock:
            self._pace()
            started = time.perf_counter()
            try:
                timeout = self.settings.timeout_s
                response = self._session().get(
                    url, headers=headers, stream=True, allow_redirects=False, timeout=(timeout, timeout)
                )
                with response:
                    got.status, got.reason = response.status_code, response.reason or ""
                    got.etag = response.headers.get("ETag")
                    got.last_modified = response.headers.get("Last-Modified")
                    got.content_type = response.headers.get("Content-Type", "")
                    if got.status in REDIRECTS and response.headers.get("Location"):
                        got.location = _canonical(urljoin(url, response.headers["Location"]))
                    if got.ok and read_body:
                        with _watchdog(response, started + self.settings.max_response_s, cut):
                            self._read_body(response, got, limit)
                    elif not got.ok:
                        self._read_body(response, got, ERROR_BODY_KEPT)
                        got.body, got.too_large = b"", 0
            except _AddressRefused as exc:
                raise SourceUnavailable(f"document source {self.location}: {exc}") from exc
            except (requests.RequestException, OSError) as exc:
                got.status, got.error = 0, _describe(exc, self.settings.timeout_s)
            finally:
                self.stats.seconds["http"] += time.perf_counter() - started
                self._next_at = time.monotonic() + self._interval()
        if cut.is_set():
            got.status, got.body, got.too_large = 0, b"", 0
            got.error = f"no complete answer within {self.settings.max_response_s:g} s"
        self.stats.statuses[got.status] += 1
        return got

    def _read_body(self, response: Any, got: _Got, limit: int) -> None:
        """The body, up to `limit` bytes (more is `too_large`)."""
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            got.too_large = int(length)
            return
        chunks: list[bytes] = []
        received = 0
        for chunk in response.iter_content(1 << 16):
            received += len(chunk)
            self.stats.bytes += len(chunk)
            if received > limit:
                got.too_large = max(received, int(length) if length.isdigit() else 0)
                return
            chunks.append(chunk)
        got.body = b"".join(chunks)

    def _session(self) -> Any:
        if self._session_obj is None:
            import requests

            session = requests.Session()
            session.trust_env = False
            session.headers["User-Agent"] = self.settings.user_agent
            adapter = _guarded_adapter(self._addresses)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._session_obj = session
        return self._session_obj

    def _interval(self) -> float:
        rate = self.settings.requests_per_second
        if self._crawl_delay is None:
            robots = self._cache.get(self.robots_url)
            self._crawl_delay = (
                _robots_delay(robots.links[0], self.settings.user_agent) if robots and robots.links else 0.0
            )
        return max(1 / rate if rate > 0 else 0.0, self._crawl_delay)

    def _pace(self) -> None:
        wait = self._next_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
            self.stats.seconds["wait"] += wait

    def _check_host(self) -> None:
        """SourceUnavailable, naming the URL and the variable that allows it, unless the host may be contacted."""
        if self._host_checked:
            return
        try:
            self._addresses(self.host, self._origin_key[2])
        except _AddressRefused as exc:
            raise SourceUnavailable(f"document source {self.location}: {exc}") from exc
        except OSError as exc:
            raise SourceUnavailable(f"document source {self.location}: cannot resolve {self.host}: {exc}") from exc
        self._host_checked = True

    def _addresses(self, host: str, port: int) -> list[str]:
        """The addresses a connection to `host` may use (none to check for an allowed host); _AddressRefused
        when one of them is private, loopback, link-local or reserved."""
        name = host.strip("[]").rstrip(".").lower()
        if name in self.settings.allowed_private_hosts:
            return []
        found: list[str] = []
        for info in socket.getaddrinfo(name, port, type=socket.SOCK_STREAM):
            address = str(info[4][0]).split("%", 1)[0]
            ip = ipaddress.ip_address(address)
            mapped = getattr(ip, "ipv4_mapped", None)
            if not (mapped or ip).is_global or (mapped or ip).is_multicast:
                raise _AddressRefused(
                    f"{name} resolves to {address}, a private, loopback, link-local or reserved address; "
                    f"add {name} to {ALLOWED_PRIVATE_HOSTS_ENV} to allow it"
                )
            if address not in found:
                found.append(address)
        return found


class _Crawl:
    """One listing: robots.txt, then the sitemaps, then the pages breadth-first."""

    def __init__(self, source: WebSource, known: dict[str, UrlState]) -> None:
        self.source = source
        self.settings = source.settings
        self.known = known
        self.state: dict[str, UrlState] = {}
        self.files: dict[str, SourceFile] = {}
        self.rejected: list[tuple[str, str]] = []
        self.skipped: dict[str, str] = {}
        self.failed: list[str] = []
        """`URL: why` of the pages that could not be fetched and may come back."""
        self.failed_sitemaps: list[str] = []
        self.problems: list[str] = []
        self.not_fetched = 0
        self.fetched = 0
        self.queue: deque[tuple[str, int, int, int]] = deque()
        """(key, depth, lastmod ns, redirect hops)"""
        self.queued: set[str] = set()
        self.robots: Any = None
        self.start = source.start_key
        """The start page's key (its redirect target's, once redirected): failing, it fails the listing."""

    def run(self) -> None:
        self._read_robots()
        entries = self._read_sitemaps()
        if self.start is not None:
            self._enqueue(self.start, 0, 0, 0)
        for url, lastmod in entries:
            self.discover(url, 0, lastmod)
        while self.queue:
            self._visit(*self.queue.popleft())

    def incomplete(self) -> str:
        """Why this listing may lack documents that still exist, in one line, or ""."""
        reasons = list(self.problems)
        for failed, what in ((self.failed, "page"), (self.failed_sitemaps, "sitemap")):
            if failed:
                shown = "; ".join(failed[:3]) + (f"; and {len(failed) - 3} more" if len(failed) > 3 else "")
                reasons.append(f"{len(failed)} {what}(s) could not be fetched ({shown})")
        if self.not_fetched:
            reasons.append(
                f"stopped at the page limit (max_pages={self.settings.max_pages} URLs fetched): "
                f"{self.not_fetched} more URL(s) under {self.source.origin}{self.source.prefix} not fetched"
            )
        return "; ".join(reasons)

    # ---- robots.txt and sitemaps -----------------------------------------------------------------

    def _read_robots(self) -> None:
        """robots.txt: absent (4xx) allows everything; unreachable (or over its limit), its last copy
        is obeyed, and without one nothing is crawled."""
        source = self.source
        got = source._fetch(source.robots_url, kind="robots", limit=ROBOTS_MAX_BYTES)
        text = ""
        if got.ok and not got.too_large:
            text = got.body.decode("utf-8", errors="replace")
        elif got.too_large or got.status in (0, 408, 429) or got.status >= 500 or got.status in REDIRECTS:
            why = f"over {ROBOTS_MAX_BYTES >> 10} KiB" if got.too_large else got.what
            prior = self.known.get(source.robots_url)
            if prior is None or not prior.links:
                raise SourceUnavailable(
                    f"document source {source.location}: {source.robots_url} cannot be read ({why}), "
                    "so nothing may be crawled until it answers"
                )
            self.problems.append(f"{source.robots_url} unreachable ({why}), its last copy obeyed")
            text = prior.links[0]
        self.robots = _robots(text)
        self.state[source.robots_url] = UrlState(source.robots_url, "robots", links=[text])
        source._crawl_delay = _robots_delay(text, self.settings.user_agent)
        source._next_at = time.monotonic() + source._interval()

    def _read_sitemaps(self) -> list[tuple[str, int]]:
        """The page URLs (and lastmods) of every sitemap reachable from the start sitemap, robots.txt and
        `<prefix>sitemap.xml`."""
        source = self.source
        start = [source.sitemap_url] if source.sitemap_url else []
        named = [u for u in (_canonical(s) for s in self.robots.sitemaps) if source._same_origin(u)]
        probe = source.origin + quote(source.prefix, safe=_URL_SAFE) + "sitemap.xml"
        pending = deque(dict.fromkeys([*start, *named, probe]))
        seen: set[str] = set()
        entries: list[tuple[str, int]] = []
        while pending and len(seen) < MAX_SITEMAPS:
            url = pending.popleft()
            if url in seen:
                continue
            seen.add(url)
            links = self._read_sitemap(url, required=url == source.sitemap_url)
            for link, lastmod in links:
                if lastmod == "":
                    if source._same_origin(link) and link not in seen:
                        pending.append(link)
                else:
                    entries.append((link, int(lastmod)))
        if pending:
            self.problems.append(f"more than {MAX_SITEMAPS} sitemaps, {len(pending)} not read")
        return entries

    def _read_sitemap(self, url: str, required: bool) -> list[list]:
        source = self.source
        prior = self.known.get(url)
        prior = prior if prior is not None and prior.kind == "sitemap" else None
        got = source._fetch(url, kind="sitemap", prior=prior, limit=SITEMAP_MAX_BYTES)
        links: list[list] | None = None
        if got.status == 304 and prior is not None:
            self.state[url] = prior
            return prior.links
        if got.ok and not got.too_large:
            try:
                links = parse_sitemap(got.body)
            except ValueError as exc:
                self.problems.append(f"{url} is not a readable sitemap ({exc})")
        elif got.too_large:
            self.problems.append(f"{url} is over the sitemap limit of {SITEMAP_MAX_BYTES >> 20} MB")
        elif got.status in REDIRECTS:
            self.problems.append(f"{url} redirects outside {source.origin}: {got.location}")
        elif got.status and got.status < 500 and got.status not in MAY_COME_BACK_4XX:
            if required:
                raise SourceUnavailable(f"document source {url} cannot be fetched: {got.what}")
            return []
        else:
            if required and (prior is None or got.status == 0):
                raise SourceUnavailable(f"document source {url} cannot be fetched: {got.what}")
            self.failed_sitemaps.append(f"{url}: {got.what}")
        if links is None:
            if required and prior is None:
                raise SourceUnavailable(f"document source {self.problems[-1]}")
            links = prior.links if prior is not None else []
        else:
            self.state[url] = UrlState(url, "sitemap", got.etag, got.last_modified, links=links)
        if prior is not None and url not in self.state:
            self.state[url] = prior
        return links

    # ---- pages -----------------------------------------------------------------------------------

    def discover(self, url: str, depth: int, lastmod: int = 0, hops: int = 0) -> None:
        """Queue a URL found in a sitemap or a page, when it is under the prefix; a query string is skipped."""
        found = self.source.split(url)
        if found is None:
            return
        key, query = found
        if query:
            self.skipped[f"{key}?{query}"] = QUERY_STRING
            return
        self._enqueue(key, depth, lastmod, hops)

    def _enqueue(self, key: str, depth: int, lastmod: int, hops: int) -> None:
        if key not in self.queued:
            self.queued.add(key)
            self.queue.append((key, depth, lastmod, hops))

    def _visit(self, key: str, depth: int, lastmod: int, hops: int) -> None:
        source = self.source
        kind = source._kind_of(key)
        if kind is None:
            self.skipped[key] = UNSUPPORTED_TYPE
            return
        reason = source.rules.skip_reason(source.parse_name(key))
        if reason == HIDDEN or (reason is not None and kind == "file"):
            self.skipped[key] = reason
            return
        url = source.url_for_key(key)
        if not self.robots.can_fetch(url, self.settings.user_agent):
            self.skipped[key] = DISALLOWED
            return
        if reason is None:
            try:
                partition_key_for(key)
            except InvalidDocumentName as exc:
                self.rejected.append((key, str(exc)))
                return
        if self.fetched >= self.settings.max_pages:
            self.not_fetched += 1
            return
        self.fetched += 1
        state = self._fetch_page(key, url, kind, depth, lastmod, hops, listed=reason is None)
        if state is None:
            return
        self.state[url] = state
        if state.kind == "other":
            self.skipped[key] = UNSUPPORTED_TYPE
            return
        if reason is not None:
            self.skipped[key] = reason
        else:
            self.files[key] = SourceFile(key, None, state.size, state.mtime_ns, state.etag)
        if state.kind == "page" and depth < self.settings.max_depth:
            for link in state.links:
                self.discover(link, depth + 1)

    def _fetch_page(
        self, key: str, url: str, kind: str, depth: int, lastmod: int, hops: int, listed: bool
    ) -> UrlState | None:
        """The page's state now (or, when it may come back, as last crawled), or None when there is none:
        gone, redirected (its target is queued) or failed without a past."""
        source = self.source
        is_start = key == self.start
        cached = self.known.get(url)
        prior = cached if cached is not None and cached.kind in ("page", "file", "other") else None
        got = source._fetch(
            url, kind="page", prior=prior, limit=source.max_bytes, follow=lambda u: self._same_key(u, key)
        )
        if got.status in REDIRECTS:
            target = source.split(got.location) if got.location else None
            if target is None or target[1] or hops + got.hops >= MAX_REDIRECTS:
                if is_start:
                    raise SourceUnavailable(f"document source {url} redirects to {got.location or '(nowhere)'}")
                self.skipped[f"{url} -> {got.location or '(no Location)'}"] = REDIRECT_REFUSED
                return None
            self.state[url] = UrlState(url, "redirect", links=[source.url_for_key(target[0])])
            self._redirect(key, target[0], depth, lastmod, hops + got.hops + 1)
            return None
        if got.status == 304 and prior is not None:
            source.hashes.put(key, prior)
            return prior
        if got.ok:
            if kind == "page" and PurePosixPath(key).suffix.lower() not in HTML_SUFFIXES and not _is_html(got):
                kind = "other"
            state = source._state_of(url, kind, got, prior, lastmod)
            if kind == "page" and not got.too_large:
                started = time.perf_counter()
                state.links = self._page_links(got.body, got.url)
                source.stats.seconds["links"] += time.perf_counter() - started
            if state.sha256 is not None and listed and kind != "other":
                source.bodies.put((key, state.sha256), got.body)
            source.hashes.put(key, state)
            return state
        if got.status in GONE or (400 <= got.status < 500 and got.status not in MAY_COME_BACK_4XX):
            if is_start:
                raise SourceUnavailable(f"document source {url} cannot be fetched: {got.what}")
            return None
        if is_start and (cached is None or got.status == 0):
            raise SourceUnavailable(f"document source {url} cannot be fetched: {got.what}")
        self.failed.append(f"{url}: {got.what}")
        if cached is not None and cached.kind == "redirect":
            self.state[url] = cached
            for link in cached.links:
                found = source.split(link)
                if found is not None:
                    self._redirect(key, found[0], depth, lastmod, hops + 1)
            return None
        return prior

    def _redirect(self, key: str, target: str, depth: int, lastmod: int, hops: int) -> None:
        if key == self.start:
            self.start = target
        self._enqueue(target, depth, lastmod, hops)

    def _same_key(self, url: str, key: str) -> bool:
        found = self.source.split(url)
        return found is not None and found == (key, "")

    def _page_links(self, body: bytes, page_url: str) -> list[str]:
        """The page's links under the prefix, canonical (query strings kept, to be reported as skipped)."""
        links: list[str] = []
        for href in _html_links(body, page_url):
            found = self.source.split(href)
            if found is not None:
                url = self.source.url_for_key(found[0]) + (f"?{found[1]}" if found[1] else "")
                if url not in links:
                    links.append(url)
        return links


class CrawlCache:
    """Per-URL state of a site's last crawl, in one table of a SQLite file keyed by start URL and URL, so
    several sites can share a file. A missing or unreadable file is an empty cache (a full crawl)."""

    TABLE = "web_crawl_state"

    def __init__(self, path: Path | None, site: str) -> None:
        self.path = Path(path) if path is not None else None
        self.site = site

    def load(self) -> dict[str, UrlState]:
        """Every URL's state of this site."""
        if self.path is None or not self.path.exists():
            return {}
        try:
            with closing(self._connect()) as db:
                rows = db.execute(
                    f"SELECT url, kind, etag, last_modified, sha256, size, mtime_ns, links FROM {self.TABLE} "
                    "WHERE site = ?",
                    (self.site,),
                ).fetchall()
        except (sqlite3.Error, OSError) as exc:
            log.warning("web crawl cache %s unreadable, crawling in full: %s", self.path, exc)
            return {}
        return {row[0]: _row_state(row) for row in rows}

    def get(self, url: str) -> UrlState | None:
        """One URL's state, or None."""
        if self.path is None or not self.path.exists():
            return None
        try:
            with closing(self._connect()) as db:
                row = db.execute(
                    f"SELECT url, kind, etag, last_modified, sha256, size, mtime_ns, links FROM {self.TABLE} "
                    "WHERE site = ? AND url = ?",
                    (self.site, url),
                ).fetchone()
        except (sqlite3.Error, OSError):
            return None
        return _row_state(row) if row else None

    def save(self, states: Iterable[UrlState]) -> None:
        """Replace this site's rows in one transaction; a corrupt file is replaced, a failure only logged."""
        if self.path is None:
            return
        rows = [
            (self.site, s.url, s.kind, s.etag, s.last_modified, s.sha256, s.size, s.mtime_ns, json.dumps(s.links))
            for s in states
        ]
        for attempt in range(2):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with closing(self._connect()) as db:
                    db.execute("BEGIN IMMEDIATE")
                    db.execute(f"DELETE FROM {self.TABLE} WHERE site = ?", (self.site,))
                    db.executemany(f"INSERT INTO {self.TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                    db.execute("COMMIT")
                return
            except sqlite3.DatabaseError as exc:
                if attempt or isinstance(exc, sqlite3.OperationalError):
                    log.warning("web crawl cache %s not written: %s", self.path, exc)
                    return
                log.warning("web crawl cache %s corrupt, replaced: %s", self.path, exc)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            except OSError as exc:
                log.warning("web crawl cache %s not written: %s", self.path, exc)
                return

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {self.TABLE} (site TEXT NOT NULL, url TEXT NOT NULL, kind TEXT NOT NULL, "
                "etag TEXT, last_modified TEXT, sha256 TEXT, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, "
                "links TEXT NOT NULL, PRIMARY KEY (site, url)) WITHOUT ROWID"
            )
        except BaseException:
            db.close()
            raise
        return db


def _row_state(row: tuple) -> UrlState:
    return UrlState(row[0], row[1], row[2], row[3], row[4], int(row[5]), int(row[6]), json.loads(row[7]))


# ---- helpers ----------------------------------------------------------------------------------------


def _is_sitemap_name(name: str) -> bool:
    return name.lower().endswith((".xml", ".xml.gz"))


def _is_html(got: _Got) -> bool:
    media = got.content_type.split(";", 1)[0].strip().lower()
    return not media or media in HTML_TYPES


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: `/a/./b/../c` is `/a/c`; the trailing slash is kept."""
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def _canonical(url: str) -> str:
    """The URL without its fragment, with its scheme and host in lower case and its dot segments resolved."""
    parts = urlsplit(url.strip())
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), _remove_dot_segments(parts.path or "/"), parts.query, "")
    )


def _html_links(body: bytes, base_url: str) -> list[str]:
    """The absolute targets of a page's `<a href>` and `<area href>`, resolved against its `<base href>`."""
    import lxml.etree
    import lxml.html

    try:
        root = lxml.html.fromstring(body)
    except (ValueError, lxml.etree.LxmlError):
        return []
    base = base_url
    for element in root.iter("base"):
        href = (element.get("href") or "").strip()
        if href:
            base = urljoin(base_url, href)
            break
    links = []
    for element in root.iter("a", "area"):
        href = (element.get("href") or "").strip()
        if (
            href
            and not href.startswith("#")
            and not href.lower().startswith(("mailto:", "javascript:", "tel:", "data:"))
        ):
            try:
                links.append(_canonical(urljoin(base, href)))
            except ValueError:
                continue
    return links


def parse_sitemap(data: bytes) -> list[list]:
    """`[child sitemap URL, ""]` and `[page URL, lastmod ns]` of a sitemap or sitemap index (gzipped or not),
    parsed without resolving entities or fetching anything; ValueError for anything else."""
    from lxml import etree

    if data[:2] == b"\x1f\x8b":
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = inflate.decompress(data, SITEMAP_MAX_BYTES + 1)
        except zlib.error as exc:
            raise ValueError(f"bad gzip data: {exc}") from exc
        if len(data) > SITEMAP_MAX_BYTES:
            raise ValueError(f"over {SITEMAP_MAX_BYTES >> 20} MB uncompressed")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(str(exc)) from exc
    kind = etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        raise ValueError(f"<{kind}> is neither <urlset> nor <sitemapindex>")
    links: list[list] = []
    for entry in root:
        if not isinstance(entry.tag, str):
            continue
        fields = {
            etree.QName(child).localname: (child.text or "").strip() for child in entry if isinstance(child.tag, str)
        }
        loc = fields.get("loc")
        if not loc:
            continue
        if kind == "sitemapindex":
            links.append([_canonical(loc), ""])
        else:
            links.append([_canonical(loc), _w3c_date_ns(fields.get("lastmod", ""))])
    return links


def _w3c_date_ns(value: str) -> int:
    """A sitemap `<lastmod>` (W3C datetime, UTC when no zone is given) in ns, or 0."""
    if not value:
        return 0
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, int(when.timestamp()) * 1_000_000_000)


def _http_date_ns(value: str | None) -> int:
    """A Last-Modified header in ns, or 0."""
    if not value:
        return 0
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, int(when.timestamp()) * 1_000_000_000)


def _robots(text: str) -> Any:
    from protego import Protego

    return Protego.parse(text)


def _robots_delay(text: str, user_agent: str) -> float:
    try:
        return float(_robots(text).crawl_delay(user_agent) or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _describe(exc: BaseException, timeout_s: float) -> str:
    """A network error in a few words."""
    import requests

    text = str(exc)
    if isinstance(exc, requests.Timeout) or "timed out" in text.lower():
        return f"no answer within {timeout_s:g} s"
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    inner = getattr(inner, "reason", None) or inner
    words = str(inner) or type(inner).__name__
    if words.startswith(("HTTPConnection(", "HTTPSConnection(", "<")):
        words = words.split(": ", 1)[-1]
    return f"connection failed: {words[:200]}"


@contextmanager
def _watchdog(response: Any, deadline: float, cut: threading.Event) -> Iterator[None]:
    """Shut the answer's connection down at `deadline` (perf_counter), setting `cut`: a body trickled in
    within each read's timeout still ends in time."""

    def shut() -> None:
        sock = getattr(getattr(response.raw, "connection", None), "sock", None)
        if sock is not None:
            cut.set()
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(0.0, deadline - time.perf_counter()), shut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _guarded_adapter(addresses: Callable[[str, int], list[str]]) -> Any:
    """A requests adapter whose connections go only to addresses `addresses` accepted when connecting, so a
    host cannot resolve to a refused address between the check and the connection."""
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def pinned(base: type) -> type:
        class Pinned(base):
            def _new_conn(self):
                name = self._dns_host
                checked = addresses(name, self.port)
                if not checked:
                    return super()._new_conn()
                error: Exception | None = None
                for address in checked:
                    self._dns_host = address
                    try:
                        return super()._new_conn()
                    except Exception as exc:  # the next address, as create_connection does
                        error = exc
                    finally:
                        self._dns_host = name
                assert error is not None
                raise error

        return Pinned

    http_connection, https_connection = pinned(HTTPConnection), pinned(HTTPSConnection)

    class Pool(HTTPConnectionPool):
        ConnectionCls = http_connection

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = https_connection

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": SecurePool}

    return Adapter(max_retries=0)
