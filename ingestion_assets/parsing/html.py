"""HTML: the visible text, with headings as `#` lines, <pre> as fenced code and tables as Markdown tables."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import PurePosixPath

from ingestion_assets.parsing.document import ParsedDocument, ParseLimits, with_empty_warning
from ingestion_assets.parsing.markdown import first_heading, markdown_sections
from ingestion_assets.parsing.text import decode_text

_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header", "footer",
    "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "dt", "dd", "hr", "title", "nav",
}  # fmt: skip
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "head", "nav"}
_CONTENT_TAGS = {"main", "article"}
"""A <footer> outside these is site boilerplate (copyright, links) and is skipped."""
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_MARK = "\x00"
"""Marks structure in the extracted text until whitespace is normalised: `\\x00H<level>` before a
heading, `\\x00P` around preformatted text, `\\x00C` between table cells."""


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.title: str | None = None
        self._in_title = False
        self._pre = 0
        self._row: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._rows_in_table: list[int] = []
        self._content_depth = 0

    def _skipped(self, tag: str) -> bool:
        return tag in _SKIP_TAGS or (tag == "footer" and not self._content_depth)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "title":
            self._in_title = True
        elif self._skipped(tag):
            self.skip_depth += 1
        elif tag in _CONTENT_TAGS:
            self._content_depth += 1
        if self.skip_depth:
            return
        if tag == "table":
            self._rows_in_table.append(0)
        elif tag == "tr":
            self._row = []
            return
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
            return
        if tag in _BLOCK_TAGS and self._cell is None:
            self.parts.append("\n")
        if tag in _HEADINGS and self._cell is None:
            self.parts.append(f"{_MARK}H{_HEADINGS[tag]}")
        elif tag == "pre":
            self._pre += 1
            self.parts.append(f"\n{_MARK}P\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif self._skipped(tag) and self.skip_depth:
            self.skip_depth -= 1
            return
        elif tag in _CONTENT_TAGS and self._content_depth:
            self._content_depth -= 1
        if self.skip_depth:
            return
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(self._cell)
            self._cell = None
            return
        if tag == "tr" and self._row is not None:
            cells = [" ".join("".join(cell).split()).replace("|", "\\|") for cell in self._row]
            self._row = None
            if any(cells):
                self.parts.append("| " + " | ".join(cells) + " |\n")
                if self._rows_in_table:
                    self._rows_in_table[-1] += 1
                    if self._rows_in_table[-1] == 1:
                        self.parts.append("|" + "---|" * len(cells) + "\n")
            return
        if tag == "table" and self._rows_in_table:
            self._rows_in_table.pop()
        if tag == "pre" and self._pre:
            self._pre -= 1
            self.parts.append(f"\n{_MARK}P\n")
        if tag in _BLOCK_TAGS and self._cell is None:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data
        elif self.skip_depth:
            return
        elif self._cell is not None:
            self._cell.append(data)
        else:
            self.parts.append(data.replace(_MARK, ""))


def _html_extract(markup: str) -> tuple[str, str]:
    """(text with Markdown headings, fenced code and tables; the <title>)."""
    extractor = _TextExtractor()
    extractor.feed(markup.replace(_MARK, ""))
    extractor.close()
    body = "".join(extractor.parts)
    lines: list[str] = []
    in_pre = False
    for line in body.split("\n"):
        if line.strip() == f"{_MARK}P":
            in_pre = not in_pre
            lines.append("```")
            continue
        if in_pre:
            lines.append(line.rstrip())
            continue
        line = re.sub(r"[ \t\r\f\v]+", " ", line).strip()
        heading = re.match(rf"^{_MARK}H(\d)\s*(.*)$", line)
        if heading:
            text = heading.group(2).replace(_MARK, "").strip()
            line = "#" * int(heading.group(1)) + " " + text if text else ""
        lines.append(line.replace(_MARK, ""))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    text = re.sub(r"```\n\n+", "```\n", text)
    title = " ".join(html.unescape(extractor.title or "").split())
    if title and title not in text:
        text = f"{title}\n\n{text}"
    return text, title


def html_to_text(markup: str) -> str:
    """Visible text of an HTML page: no tags, scripts or styles; entities resolved; title first;
    headings as Markdown `#` lines, <pre> as fenced code, tables as Markdown tables."""
    return _html_extract(markup)[0]


def parse(key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    text, warnings = decode_text(data)
    extracted, page_title = _html_extract(text)
    sections = markdown_sections(extracted)
    title = first_heading(sections, 1) or page_title or PurePosixPath(key).stem
    return with_empty_warning(ParsedDocument("html", extracted, [0], warnings, title, sections))
