"""Turn a file's bytes into text with page boundaries (the `documents` phase)."""

from __future__ import annotations

import codecs
import html
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib.metadata import version
from pathlib import PurePosixPath

from resources.document_source import HTML_SUFFIXES, PYMUPDF_SUFFIXES, TEXT_SUFFIXES

PARSER_VERSION = f"parse-1+pymupdf-{version('pymupdf')}"
PAGE_SEPARATOR = "\n\n"


class ParseError(ValueError):
    """The document cannot be turned into text; the message says why, for a human."""


@dataclass
class ParsedDocument:
    format: str
    text: str
    page_offsets: list[int]
    """Character offset in `text` where each page starts; text formats are a single page."""
    warnings: list[str] = field(default_factory=list)

    @property
    def page_count(self) -> int:
        return len(self.page_offsets)


def document_format(key: str) -> str:
    return PurePosixPath(key).suffix.lower().lstrip(".") or "unknown"


@dataclass(frozen=True)
class ParseLimits:
    """A document over a limit fails with a clear reason instead of stalling its batch."""

    max_pages: int = 5000
    max_seconds: float = 300.0


def parse_bytes(key: str, data: bytes, limits: ParseLimits = ParseLimits()) -> ParsedDocument:
    suffix = PurePosixPath(key).suffix.lower()
    if suffix in PYMUPDF_SUFFIXES:
        return _parse_with_pymupdf(suffix.lstrip("."), data, limits)
    if suffix in TEXT_SUFFIXES:
        text, warnings = decode_text(data)
        return _with_empty_warning(ParsedDocument(suffix.lstrip("."), text, [0], warnings))
    if suffix in HTML_SUFFIXES:
        text, warnings = decode_text(data)
        return _with_empty_warning(ParsedDocument("html", html_to_text(text), [0], warnings))
    raise ParseError(f"unsupported file type {suffix or '(none)'}")


def _with_empty_warning(doc: ParsedDocument) -> ParsedDocument:
    if not doc.text.strip():
        doc.warnings.append("no text (empty file): nothing to search")
    return doc


def _parse_with_pymupdf(filetype: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    import pymupdf

    if not data:
        raise ParseError("empty file (0 bytes)")
    started = time.monotonic()
    truncated = filetype == "pdf" and data.startswith(b"%PDF") and b"%%EOF" not in data[-2048:]
    try:
        doc = pymupdf.open(stream=data, filetype=filetype)
    except Exception as exc:
        if truncated:
            raise ParseError("truncated PDF: the file ends before its %%EOF marker (incomplete copy?)") from exc
        raise ParseError(f"not a readable {filetype.upper()} file: {exc}") from exc
    warnings = []
    with doc:
        if doc.needs_pass:
            raise ParseError(f"{filetype.upper()} is password-protected")
        if filetype == "pdf" and doc.is_repaired:
            if truncated:
                raise ParseError("truncated PDF: the file ends before its %%EOF marker (incomplete copy?)")
            warnings.append("damaged PDF structure, repaired by MuPDF: check the text is complete")
        if doc.page_count > limits.max_pages:
            raise ParseError(f"too large: {doc.page_count} pages, the limit is {limits.max_pages} (INGEST_MAX_PAGES)")
        parts: list[str] = []
        offsets: list[int] = []
        position = 0
        try:
            for page in doc:
                if time.monotonic() - started > limits.max_seconds:
                    raise ParseError(
                        f"too slow: parsing took over {limits.max_seconds:g} s (INGEST_MAX_PARSE_SECONDS) "
                        f"and stopped at page {page.number + 1} of {doc.page_count}"
                    )
                page_text = page.get_text("text", sort=True).strip()
                offsets.append(position)
                parts.append(page_text)
                position += len(page_text) + len(PAGE_SEPARATOR)
        except ParseError:
            raise
        except Exception as exc:
            raise ParseError(f"damaged {filetype.upper()} (page {len(offsets) + 1}): {exc}") from exc
    text = PAGE_SEPARATOR.join(parts)
    if offsets and not text.strip():
        warnings.append(f"{len(offsets)} page(s) but no text layer (scanned image?): nothing to search")
    return ParsedDocument(filetype, text, offsets, warnings)


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes) -> tuple[str, list[str]]:
    """Decode by BOM, else UTF-8, else cp1252 (with a warning); NUL bytes mean binary."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding), []
    if b"\x00" in data:
        raise ParseError("binary content (NUL bytes) in a text file")
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        warning = f"not valid UTF-8 (byte {exc.start}); decoded as Windows-1252"
    return data.decode("cp1252", errors="replace"), [warning]


_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header", "footer",
    "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "dt", "dd", "hr", "title", "nav",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "head"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.title: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP_TAGS:
            self.skip_depth += 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP_TAGS and self.skip_depth:
            self.skip_depth -= 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data
        elif not self.skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML page: no tags, scripts or styles; entities resolved; title first."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    body = "".join(extractor.parts)
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in body.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = html.unescape(extractor.title or "").strip()
    return f"{title}\n\n{text}" if title and title not in text else text
