"""HTML: the visible text, with headings as `#` lines, lists as `-` lines, <pre> as fenced code and tables as Markdown tables."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePosixPath

from ingestion_assets.parsing.document import ParsedDocument, ParseLimits, with_empty_warning
from ingestion_assets.parsing.markdown import first_heading, markdown_sections
from ingestion_assets.parsing.text import decode_text

_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "section", "article", "header", "footer", "caption",
    "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "dt", "dd", "hr", "title", "nav",
}  # fmt: skip
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "head", "nav"}
_CONTENT_TAGS = {"main", "article"}
"""A <footer> outside these is site boilerplate (copyright, links) and is skipped."""
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_TABLE_TAGS = {"tr", "td", "th", "thead", "tbody", "tfoot", "caption"}
_MAX_SPAN = 1000
"""The most columns a cell may span (the HTML limit)."""
_MAX_TABLE_DEPTH = 32
"""Tables nested deeper are read as the text of their cells."""
_MAX_LIST_INDENT = 8
"""Lists nested deeper are indented as this level."""
_MARK = "\x00"
"""Marks structure in the extracted text until whitespace is normalised: `\\x00H<level>` before a
heading, `\\x00P` around preformatted text, `\\x00L<depth>:<bullet> ` before a list item, `\\x00E` after a list."""
_ITEM = re.compile(rf"^{_MARK}L(\d+):(\S+)\s*(.*)$")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([\w.:-]{1,40})""", re.IGNORECASE)


@dataclass
class _Cell:
    header: bool
    colspan: int
    rowspan: int
    parts: list = field(default_factory=list)


@dataclass
class _Table:
    """A <table> as read: rows of cells whose content is kept as parts until the table is rendered,
    either as a Markdown table or, for a layout table, as the blocks of its cells."""

    outer: list
    presentation: bool
    rows: list[list[_Cell]] = field(default_factory=list)
    head_rows: set[int] = field(default_factory=set)
    caption: list = field(default_factory=list)
    stray: list = field(default_factory=list)
    """Text inside the table but outside any cell (shown before the table, as browsers do)."""
    in_head: bool = False
    cell: _Cell | None = None


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list = []
        self.out = self.parts
        self.skip_depth = 0
        self.title: str | None = None
        self._in_title = False
        self._pre = 0
        self._tables: list[_Table] = []
        self._ignored_tables = 0
        self._lists: list[list[int]] = []  # per open list: [ordered, items so far]
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
        if self._pre:
            if tag == "pre":
                self._pre += 1
            elif tag == "br":
                self.out.append("\n")
            return
        if tag == "table":
            self._open_table(attrs)
        elif tag in _TABLE_TAGS and self._tables:
            self._table_start(tag, attrs)
        elif tag in ("ul", "ol"):
            self._lists.append([tag == "ol", 0])
            self.out.append("\n")
        elif tag == "li":
            depth = min(max(len(self._lists) - 1, 0), _MAX_LIST_INDENT)
            bullet = "-"
            if self._lists and self._lists[-1][0]:
                self._lists[-1][1] += 1
                bullet = f"{self._lists[-1][1]}."
            self.out.append(f"\n{_MARK}L{depth}:{bullet} ")
        elif tag == "code":
            self.out.append("`")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "tr":
            self.out.append("\n")
        if tag in _BLOCK_TAGS and tag != "li":
            self.out.append("\n")
        if tag in _HEADINGS:
            self.out.append(f"{_MARK}H{_HEADINGS[tag]}")
        elif tag == "pre":
            self._pre += 1
            self.out.append(f"\n{_MARK}P\n")

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
        if self._pre:
            if tag == "pre":
                self._pre -= 1
                if not self._pre:
                    self.out.append(f"\n{_MARK}P\n\n")
            return
        if tag == "table":
            self._close_table()
        elif tag in _TABLE_TAGS and self._tables:
            self._table_end(tag)
        elif tag in ("ul", "ol") and self._lists:
            self._lists.pop()
            if not self._lists:
                self.out.append(f"\n{_MARK}E\n")
        elif tag == "code":
            self.out.append("`")
        if tag in _BLOCK_TAGS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data
        elif not self.skip_depth:
            self.out.append(data.replace(_MARK, ""))

    def _open_table(self, attrs: list) -> None:
        if len(self._tables) >= _MAX_TABLE_DEPTH:
            self._ignored_tables += 1
            self.out.append("\n")
            return
        role = (dict(attrs).get("role") or "").lower()
        table = _Table(self.out, role in ("presentation", "none"))
        self.out.append(table)
        self._tables.append(table)
        self.out = table.stray

    def _close_table(self) -> None:
        if self._ignored_tables:
            self._ignored_tables -= 1
            self.out.append("\n")
        elif self._tables:
            table = self._tables.pop()
            self.out = table.outer

    def _end_cell(self, table: _Table) -> None:
        table.cell = None
        self.out = table.stray

    def _table_start(self, tag: str, attrs: list) -> None:
        table = self._tables[-1]
        self._end_cell(table)
        if tag == "thead":
            table.in_head = True
        elif tag in ("tbody", "tfoot"):
            table.in_head = False
        elif tag == "caption":
            self.out = table.caption
        elif tag == "tr" or not table.rows:
            table.rows.append([])
            if table.in_head:
                table.head_rows.add(len(table.rows) - 1)
        if tag in ("td", "th"):
            values = dict(attrs)
            cell = _Cell(tag == "th", _span(values.get("colspan"), _MAX_SPAN), _span(values.get("rowspan"), 65534))
            table.rows[-1].append(cell)
            table.cell = cell
            self.out = cell.parts

    def _table_end(self, tag: str) -> None:
        table = self._tables[-1]
        if tag == "thead":
            table.in_head = False
        if tag != "caption" or table.cell is None:
            self._end_cell(table)


def _span(value: str | None, limit: int) -> int:
    match = re.match(r"\s*(\d+)", value or "")
    return min(max(int(match.group(1)), 1), limit) if match else 1


def _is_layout(table: _Table) -> bool:
    """A table used to place blocks on the page (one column without header cells, headings or
    nested layout tables in its cells, or role="presentation"), not to hold data."""
    if table.presentation:
        return True
    cells = [cell for row in table.rows for cell in row]
    if not any(cell.header for cell in cells) and all(len(row) <= 1 for row in table.rows):
        return True
    for cell in cells:
        for part in cell.parts:
            if isinstance(part, _Table) and _is_layout(part):
                return True
            if isinstance(part, str) and f"{_MARK}H" in part:
                return True
    return False


def _blocks(parts: list) -> str:
    """Parts as text with structure marks; data tables as Markdown tables."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif _is_layout(part):
            out.append("\n" + _blocks(part.stray) + "\n" + _blocks(part.caption) + "\n")
            out.extend("\n" + _blocks(cell.parts) + "\n" for row in part.rows for cell in row)
        else:
            out.append("\n\n" + _markdown_table(part) + "\n\n")
    return "".join(out)


def _inline(parts: list) -> str:
    """Parts on one line, for a table cell: lines joined by "; ", code in backticks, nested tables
    as their rows (cells joined by ", ")."""
    raw = "".join(part if isinstance(part, str) else "\n" + _flat_table(part) + "\n" for part in parts)
    pieces: list[str] = []
    for i, segment in enumerate(raw.split(f"{_MARK}P")):
        if i % 2:
            code = " ".join(segment.split())
            if code:
                pieces.append(f"`{code}`")
            continue
        segment = re.sub(rf"{_MARK}(H\d|L\d+:\S+ ?|E)", "\n", segment).replace(_MARK, "")
        pieces.extend(" ".join(line.split()) for line in segment.split("\n"))
    text = ""
    for piece in pieces:
        if piece and piece != "``":
            text += ("" if not text else " " if text[-1] in ".,;:!?" else "; ") + piece
    return text


def _flat_table(table: _Table) -> str:
    lines = [_inline(table.stray), _inline(table.caption)]
    lines.extend(", ".join(filter(None, (_inline(cell.parts) for cell in row))) for row in table.rows)
    return "\n".join(lines)


def _grid(table: _Table, texts: list[list[str]], budget: int | None) -> list[list[str]] | None:
    """Rows of cell texts laid out in columns; a spanned cell's text is in its first column and the
    columns and rows it also covers are empty, except in header rows, where it is repeated. Spans are
    ignored when `budget` is None; None when laying them out would take more than `budget` cells."""
    grid: list[list[str]] = []
    pending: dict[int, tuple[int, str]] = {}  # column -> (rows it still covers, text of a header cell)
    used = 0
    for r, row in enumerate(table.rows):
        head = r in table.head_rows
        line: dict[int, str] = {}
        for col, (left, text) in list(pending.items()):
            line[col] = text if head else ""
            pending[col] = (left - 1, text)
            if left <= 1:
                del pending[col]
        col = 0
        for cell, text in zip(row, texts[r], strict=True):
            while col in line:
                col += 1
            colspan, rowspan = (cell.colspan, min(cell.rowspan, len(table.rows) - r)) if budget else (1, 1)
            for c in range(col, col + colspan):
                line[c] = text if c == col or head else ""
                if rowspan > 1:
                    pending[c] = (rowspan - 1, text if head else "")
            col += colspan
        used += max(line, default=-1) + 1
        if budget and used > budget:
            return None
        grid.append([line.get(c, "") for c in range(max(line, default=-1) + 1)])
    return grid


def _markdown_table(table: _Table) -> str:
    """A data table as one Markdown table: the <thead> rows or leading rows of <th> cells (joined
    column by column) as the header, else the first row; empty rows and columns dropped. Spans or
    padding that would make the table more than ten times its cells are left out."""
    texts = [[_inline(cell.parts).replace("|", "\\|") for cell in row] for row in table.rows]
    head = 0
    while head < len(table.rows) and (
        head in table.head_rows or (table.rows[head] and all(cell.header for cell in table.rows[head]))
    ):
        head += 1
    table.head_rows = set(range(head))
    budget = 10 * sum(len(row) for row in table.rows) + 10_000
    grid = _grid(table, texts, budget) or _grid(table, texts, None) or []
    width = max((len(row) for row in grid), default=0)
    if width * len(grid) <= budget:
        keep = [c for c in range(width) if any(c < len(row) and row[c] for row in grid)]
        grid = [[row[c] if c < len(row) else "" for c in keep] for row in grid]
    width = max((len(row) for row in grid[: max(head, 1)]), default=0)
    header = [" ".join(dict.fromkeys(row[c] for row in grid[:head] if c < len(row) and row[c])) for c in range(width)]
    body = [row for row in grid[head:] if any(row)]
    if not head:
        header, body = (body[0], body[1:]) if body else ([], [])
    rows = []
    if header:
        rows.append("| " + " | ".join(header) + " |")
        rows.append("|" + "---|" * len(header))
        rows.extend("| " + " | ".join(row) + " |" for row in body)
    return "\n\n".join(filter(None, [_inline(table.stray), _inline(table.caption), "\n".join(rows)]))


def _html_extract(markup: str, with_title: bool = True) -> tuple[str, str]:
    """(text with Markdown headings, lists, fenced code and tables; the <title>)."""
    extractor = _TextExtractor()
    extractor.feed(markup.replace(_MARK, ""))
    extractor.close()
    body = _blocks(extractor.parts)
    lines: list[str | None] = []
    items: set[int] = set()
    ends: set[int] = set()
    bullet = ""
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
        if line == f"{_MARK}E":
            ends.add(len(lines))
            line = ""
        heading = re.match(rf"^{_MARK}H(\d)\s*(.*)$", line)
        item = _ITEM.match(line)
        if heading:
            text = heading.group(2).replace(_MARK, "").strip()
            line = "#" * int(heading.group(1)) + " " + text if text else ""
            bullet = ""
        elif item:
            bullet = "  " * int(item.group(1)) + item.group(2) + " "
            line = item.group(3)
        line = line.replace(_MARK, "")
        if bullet and line:
            line, bullet = bullet + line, ""
            items.add(len(lines))
        lines.append(line)
    for i in items:
        previous = i - 1
        while previous > 0 and not lines[previous] and previous not in ends:
            previous -= 1
        if previous in items:
            lines[previous + 1 : i] = [None] * (i - previous - 1)
    text = "\n".join(line for line in lines if line is not None)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    text = re.sub(r"```\n\n+", "```\n", text)
    title = " ".join(html.unescape(extractor.title or "").split())
    if with_title and title and title not in text:
        text = f"{title}\n\n{text}"
    return text, title


def html_to_text(markup: str, with_title: bool = True) -> str:
    """Visible text of an HTML page: no tags, scripts or styles; entities resolved; the <title>
    first (when `with_title` and not in the text already); headings as Markdown `#` lines, lists
    as `-` lines, <pre> as fenced code, tables as Markdown tables."""
    return _html_extract(markup, with_title)[0]


def parse(key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    declared = _META_CHARSET.search(data[:4096])
    charset = declared.group(1).decode("ascii") if declared else None
    if charset and charset.lower().startswith(("utf-16", "utf-32")):
        charset = None
    text, warnings = decode_text(data, charset)
    extracted, page_title = _html_extract(text)
    sections = markdown_sections(extracted)
    title = first_heading(sections, 1) or page_title or PurePosixPath(key).stem
    return with_empty_warning(ParsedDocument("html", extracted, [0], warnings, title, sections))
