"""A generated website for the web source's tests and bench, served by a real HTTP server process on 127.0.0.1.

`with WebSite(tmp_path) as site:` starts `python -m tests.web_site` on a free port, serving the files of a
folder (`site.url("/docs/")`); `default_site` fills it (robots.txt, a sitemap index, pages, a PDF). The test
changes the site while it runs (`set_page`, `delete`, `fail_all`, `slow`, `trickle`, `redirect`, `unsized`,
`content_type`): the server reads the folder and a control file at every request, so another process could
crawl it too.

Every answer has an ETag (of the body) and a Last-Modified (the file's mtime, to the second), and a
matching If-None-Match (or, without one, If-Modified-Since) gets a 304. A URL ending in `/` serves the
folder's `index.html`; a folder named without its `/` is a 301 to it. Every request (method, path,
conditional or not, status, body bytes, User-Agent, time) is logged to `requests.jsonl` before it is
answered: `site.requests()` reads it back.
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.local_server import LocalServerProcess

REPO = Path(__file__).resolve().parent.parent
HEALTH = "/-/health"
"""Answered without logging: how the starter knows the server is up."""
START_TIMEOUT_S = 30.0
HUGE_BYTES = 160 << 10
"""The size of `/docs/huge.html`: over the tests' size limit."""
PDF_TEXT = "Generated manual for the web source tests"
OTHER_HOST = "http://other-host.invalid"

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".xml": "application/xml",
    ".txt": "text/plain; charset=utf-8",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
}


class WebSiteUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    t: float
    method: str
    path: str
    conditional: bool
    status: int
    bytes: int
    user_agent: str


# ---- the server (runs in its own process) ---------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.files = root / "site"
        self.log_lock = threading.Lock()
        self.control_cache: tuple[float, dict] = (-1.0, {})
        super().__init__(("127.0.0.1", port), _Handler)

    def control(self) -> dict:
        path = self.root / "control.json"
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if mtime != self.control_cache[0]:
            self.control_cache = (mtime, json.loads(path.read_text()))
        return self.control_cache[1]

    def log_request_line(self, entry: dict) -> None:
        with self.log_lock, open(self.root / "requests.jsonl", "a") as handle:
            handle.write(json.dumps(entry) + "\n")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = 1 << 16
    server: _Server

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def log_message(self, format: str, *args) -> None:
        return None

    def _serve(self, head: bool) -> None:
        started = time.time()
        raw_path = urlsplit(self.path).path
        if raw_path == HEALTH:
            self._answer(200, b"ok", {"Content-Type": "text/plain"}, head, log=None)
            return
        path = unquote(raw_path)
        control = self.server.control()
        conditional = bool(self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since"))
        entry = {
            "t": started,
            "method": self.command,
            "path": self.path,
            "conditional": conditional,
            "user_agent": self.headers.get("User-Agent", ""),
        }
        delay = control.get("slow", {}).get(path)
        if delay:
            time.sleep(delay)
        fail = control.get("fail")
        if fail and not any(path.startswith(p) for p in control.get("spared", [])):
            self._answer(int(fail), b"failing on purpose\n", {"Content-Type": "text/plain"}, head, entry)
            return
        redirect = control.get("redirects", {}).get(path)
        if redirect:
            self._answer(int(redirect[0]), b"", {"Location": redirect[1]}, head, entry)
            return
        file = self._file(path)
        if file is None:
            self._answer(404, b"not found\n", {"Content-Type": "text/plain"}, head, entry)
            return
        if file.is_dir():
            location = raw_path + "/"
            self._answer(301, b"", {"Location": location}, head, entry)
            return
        body = file.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        mtime = int(file.stat().st_mtime)
        headers = {
            "ETag": etag,
            "Last-Modified": email.utils.formatdate(mtime, usegmt=True),
            "Content-Type": control.get("types", {}).get(path) or TYPES.get(file.suffix, "text/html; charset=utf-8"),
        }
        if self._not_modified(etag, mtime):
            self._answer(304, b"", {"ETag": etag, "Last-Modified": headers["Last-Modified"]}, head, entry)
            return
        unsized = path in control.get("unsized", [])
        self._answer(200, body, headers, head, entry, length=not unsized, trickle=control.get("trickle", {}).get(path))

    def _file(self, path: str) -> Path | None:
        root = self.server.files
        target = (root / path.lstrip("/")).resolve()
        if target != root and root not in target.parents:
            return None
        if path.endswith("/"):
            target = target / "index.html"
        return target if target.exists() else None

    def _not_modified(self, etag: str, mtime: int) -> bool:
        match = self.headers.get("If-None-Match")
        if match is not None:
            return etag in [tag.strip() for tag in match.split(",")] or match.strip() == "*"
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                return mtime <= email.utils.parsedate_to_datetime(since).timestamp()
            except (TypeError, ValueError):
                return False
        return False

    def _answer(
        self,
        status: int,
        body: bytes,
        headers: dict,
        head: bool,
        log: dict | None,
        length: bool = True,
        trickle: list | None = None,
    ) -> None:
        """Log, then answer; without `length` the body ends when the connection closes, with `trickle`
        ([bytes, seconds]) it is sent that many bytes at a time, that long apart."""
        sent = b"" if head or status == 304 else body
        if log is not None:
            self.server.log_request_line({**log, "status": status, "bytes": len(sent)})
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if not length:
            self.send_header("Connection", "close")
            self.close_connection = True
        elif status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if trickle:
            size, pause = trickle
            for start in range(0, len(sent), size):
                self.wfile.write(sent[start : start + size])
                self.wfile.flush()
                time.sleep(pause)
        elif sent:
            self.wfile.write(sent)


def serve(root: Path, port: int) -> None:
    server = _Server(root, port)
    print(f"serving {root} on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


# ---- the test side ----------------------------------------------------------------------------------------


class WebSite(LocalServerProcess):
    """One server process over `workdir/site`; `populate(site)` fills it once the server answers."""

    def __init__(
        self,
        workdir: Path,
        crawl_delay: float = 0.02,
        populate: Callable[[WebSite], None] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.files = self.workdir / "site"
        self.files.mkdir(parents=True, exist_ok=True)
        self.crawl_delay = crawl_delay
        self.populate = default_site if populate is None else populate
        self._control: dict = {
            "fail": None,
            "spared": [],
            "slow": {},
            "redirects": {},
            "types": {},
            "unsized": [],
            "trickle": {},
        }
        super().__init__("web site", self.workdir / "server.log")

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> WebSite:
        self._write_control()
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        self._start(
            lambda port: [sys.executable, "-m", "tests.web_site", "--root", str(self.workdir), "--port", str(port)],
            self._answers,
            WebSiteUnavailable,
            START_TIMEOUT_S,
            env=env,
        )
        self.populate(self)
        return self

    def __enter__(self) -> WebSite:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + HEALTH, timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    # ---- addresses -------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    # ---- content ---------------------------------------------------------------------------------

    def _path(self, path: str) -> Path:
        return self.files / (path.lstrip("/") + ("index.html" if path.endswith("/") else ""))

    def set_page(self, path: str, body: str | bytes) -> None:
        """Write the file behind `path` (`/docs/guide/` is its index.html), its Last-Modified a new second."""
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        before = int(target.stat().st_mtime) if target.exists() else 0
        target.write_bytes(body.encode() if isinstance(body, str) else body)
        stamp = max(int(time.time()), before + 1)
        os.utime(target, (stamp, stamp))

    def body(self, path: str) -> bytes:
        return self._path(path).read_bytes()

    def last_modified_ns(self, path: str) -> int:
        return int(self._path(path).stat().st_mtime) * 1_000_000_000

    def delete(self, path: str) -> None:
        """The page answers 404 from now on."""
        self._path(path).unlink()

    # ---- behaviour -------------------------------------------------------------------------------

    def fail_all(self, status: int | None = 500, spared: tuple[str, ...] = ()) -> None:
        """Every request (but under the `spared` paths) answers `status`; None to stop."""
        self._control["fail"], self._control["spared"] = status, list(spared)
        self._write_control()

    def slow(self, path: str, seconds: float) -> None:
        """Answer `path` only after `seconds`."""
        self._control["slow"][path] = seconds
        self._write_control()

    def redirect(self, path: str, location: str, status: int = 301) -> None:
        self._control["redirects"][path] = [status, location]
        self._write_control()

    def unsized(self, path: str) -> None:
        """Answer `path` without a Content-Length: its body ends when the connection closes."""
        self._control["unsized"].append(path)
        self._write_control()

    def trickle(self, path: str, size: int, pause: float) -> None:
        """Send the body of `path` `size` bytes at a time, `pause` seconds apart."""
        self._control["trickle"][path] = [size, pause]
        self._write_control()

    def content_type(self, path: str, value: str) -> None:
        self._control["types"][path] = value
        self._write_control()

    def _write_control(self) -> None:
        target = self.workdir / "control.json"
        scratch = self.workdir / "control.json.part"
        scratch.write_text(json.dumps(self._control))
        scratch.replace(target)

    # ---- the request log -------------------------------------------------------------------------

    def mark(self) -> int:
        """How many requests were logged so far: `requests(since=mark)` gives those after it."""
        return len(self.requests())

    def requests(self, since: int = 0) -> list[Request]:
        try:
            lines = (self.workdir / "requests.jsonl").read_text().splitlines()
        except FileNotFoundError:
            return []
        return [Request(**json.loads(line)) for line in lines[since:] if line.strip()]


# ---- the generated site -----------------------------------------------------------------------------------


def page(title: str, links: list[str] = (), text: str = "") -> str:
    """A small HTML page with a heading, a paragraph and links."""
    items = "\n".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    paragraph = text or f"This page is about {title.lower()}."
    return (
        f"<!doctype html>\n<html><head><title>{title}</title></head>\n<body><main>\n"
        f"<h1>{title}</h1>\n<p>{paragraph}</p>\n<ul>\n{items}\n</ul>\n</main></body></html>\n"
    )


def robots_txt(site: WebSite, disallow: str = "/docs/private/") -> str:
    delay = f"Crawl-delay: {site.crawl_delay:g}\n" if site.crawl_delay else ""
    return f"User-agent: *\nDisallow: {disallow}\n{delay}Sitemap: {site.url('/sitemap_index.xml')}\n"


def sitemap(urls: list[tuple[str, str]]) -> str:
    """A `<urlset>` of (URL, lastmod)."""
    entries = "".join(
        f"  <url><loc>{loc}</loc>" + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "") + "</url>\n"
        for loc, lastmod in urls
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{entries}</urlset>\n"
    )


def sitemap_index(urls: list[tuple[str, str]]) -> str:
    entries = "".join(f"  <sitemap><loc>{loc}</loc><lastmod>{lastmod}</lastmod></sitemap>\n" for loc, lastmod in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{entries}</sitemapindex>\n"
    )


def pdf_bytes(text: str = PDF_TEXT) -> bytes:
    import pymupdf

    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), text)
    data = doc.tobytes()
    doc.close()
    return data


CHAIN = 5
"""`/docs/chain/1.html` links to 2.html ... up to this one: one more link hop each."""

DEFAULT_DOCUMENTS = {
    "index.html",
    "guide/index.html",
    "guide/intro",
    "guide/advanced.html",
    "deep/only-from-intro.html",
    "faq.html",
    "sitemap-only.html",
    "reference/api",
    "from-docs-sitemap.html",
    "manual.pdf",
    "huge.html",
    "slow.html",
    *(f"chain/{i}.html" for i in range(1, CHAIN + 1)),
}
"""The keys the default site's crawl lists (with `max_depth` of at least CHAIN)."""


def default_site(site: WebSite) -> None:
    """robots.txt (a Disallow, a Crawl-delay, a Sitemap), a sitemap index of two sitemaps with lastmods,
    `/docs/sitemap.xml`, pages under `/docs/` found by links, by sitemaps or both, redirects in and out of
    the prefix, a 404 link, a PDF, a zip, a page served as a zip, pages outside the prefix."""
    u = site.url
    site.set_page("/robots.txt", robots_txt(site))
    site.set_page(
        "/sitemap_index.xml",
        sitemap_index([(u("/sitemaps/pages.xml"), "2024-03-01"), (u("/sitemaps/more.xml"), "2024-03-02T10:00:00Z")]),
    )
    site.set_page(
        "/sitemaps/pages.xml",
        sitemap(
            [(u("/docs/"), "2024-01-01"), (u("/docs/sitemap-only.html"), "2024-01-02"), (u("/docs/guide/intro"), "")]
        ),
    )
    site.set_page(
        "/sitemaps/more.xml",
        sitemap(
            [
                (u("/docs/reference/api"), "2024-01-03T12:00:00+00:00"),
                (u("/outside/page.html"), ""),
                (u("/docs/private/hidden.html"), ""),
                (u("/docs/search?q=sitemap"), ""),
            ]
        ),
    )
    site.set_page("/docs/sitemap.xml", sitemap([(u("/docs/from-docs-sitemap.html"), "")]))
    site.set_page(
        "/docs/",
        page(
            "Documentation",
            [
                "guide/",
                "guide",
                "guide/intro",
                "manual.pdf",
                "old-guide",
                "moved-out",
                "elsewhere",
                "missing.html",
                "slow.html",
                "huge.html",
                "search?q=term",
                "../outside/page.html",
                f"{OTHER_HOST}/docs/x.html",
                "private/secret.html",
                "chain/1.html",
                "archive.zip",
                "download",
                "#top",
                "index.html",
                "faq.html#answers",
                "mailto:docs@example.invalid",
            ],
        ),
    )
    site.set_page("/docs/guide/", page("Guide", ["intro", "../", "../faq.html"]))
    site.set_page("/docs/guide/intro", page("Introduction", ["../faq.html", "../deep/only-from-intro.html"]))
    site.set_page("/docs/guide/advanced.html", page("Advanced", ["intro"]))
    site.set_page("/docs/deep/only-from-intro.html", page("Deep page"))
    site.set_page("/docs/faq.html", page("FAQ", ["./", "guide/"]))
    site.set_page("/docs/sitemap-only.html", page("Only in a sitemap"))
    site.set_page("/docs/reference/api", page("API reference", ["../faq.html"]))
    site.set_page("/docs/from-docs-sitemap.html", page("In the prefix's sitemap"))
    for i in range(1, CHAIN + 1):
        site.set_page(f"/docs/chain/{i}.html", page(f"Chain {i}", [f"{i + 1}.html"] if i < CHAIN else []))
    site.set_page("/docs/slow.html", page("Slow page"))
    site.set_page("/docs/huge.html", page("Huge page", ["never-reached.html"], "x" * HUGE_BYTES))
    site.set_page("/docs/never-reached.html", page("Only linked from the huge page"))
    site.set_page("/docs/private/secret.html", page("Secret"))
    site.set_page("/docs/private/hidden.html", page("Hidden"))
    site.set_page("/docs/manual.pdf", pdf_bytes())
    site.set_page("/docs/archive.zip", b"PK\x05\x06" + b"\0" * 18)
    site.set_page("/docs/download", b"PK\x05\x06" + b"\0" * 18)
    site.content_type("/docs/download", "application/zip")
    site.set_page("/outside/page.html", page("Outside the prefix"))
    site.set_page("/blog/post.html", page("A blog post"))
    site.redirect("/docs/old-guide", "/docs/guide/advanced.html")
    site.redirect("/docs/moved-out", "/blog/post.html")
    site.redirect("/docs/elsewhere", f"{OTHER_HOST}/docs/page.html", 302)


def large_site(pages: int, sections: int = 20) -> Callable[[WebSite], None]:
    """A site of `pages` pages under `/docs/` for the bench: an index of sections, each section linking to its
    pages, each page to its neighbours; a sitemap lists every page; no Crawl-delay."""

    def populate(site: WebSite) -> None:
        u = site.url
        per = max(1, -(-pages // sections))
        names = [f"s{i // per:02d}/page-{i:05d}.html" for i in range(pages)]
        site.set_page("/robots.txt", f"User-agent: *\nDisallow: /docs/private/\nSitemap: {u('/sitemap_index.xml')}\n")
        site.set_page("/sitemap_index.xml", sitemap_index([(u("/docs/sitemap-pages.xml"), "2024-03-01")]))
        site.set_page("/docs/sitemap-pages.xml", sitemap([(u(f"/docs/{name}"), "2024-01-01") for name in names]))
        site.set_page("/docs/", page("Bench site", [f"s{s:02d}/" for s in range(sections)]))
        filler = " ".join(f"word{i % 97}" for i in range(400))
        for s in range(sections):
            mine = [name.split("/", 1)[1] for name in names if name.startswith(f"s{s:02d}/")]
            site.set_page(f"/docs/s{s:02d}/", page(f"Section {s}", [*mine, "../"]))
        for i, name in enumerate(names):
            neighbours = [f"../{names[j]}" for j in (i - 1, i + 1) if 0 <= j < len(names)]
            site.set_page(f"/docs/{name}", page(f"Page {i}", [*neighbours, "./", "../"], filler))

    return populate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a WebSite folder (started by tests/web_site.py).")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(args.root, args.port)


if __name__ == "__main__":
    main()
