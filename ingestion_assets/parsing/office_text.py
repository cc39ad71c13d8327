"""Shared by the office parsers: checks on an OOXML package and the Markdown blocks they write."""

from __future__ import annotations

import re
import time
import zipfile
import zlib
from datetime import UTC, datetime

from ingestion_assets.parsing.document import ParseError, ParseLimits

_DTD_MARKERS = (b"<!DOCTYPE", "<!DOCTYPE".encode("utf-16-le"), "<!DOCTYPE".encode("utf-16-be"))
_DTD_HEAD = 1 << 16
"""How much of each XML member is searched for a DOCTYPE (it can only stand in the prolog)."""
_MARKDOWN_LINE = re.compile(r"^( {0,3})(#{1,6}(?:[ \t]|$)|`{3,}|~{3,}|=+[ \t]*$|-{3,}[ \t]*$)")


def check_package(archive: zipfile.ZipFile, what: str) -> None:
    """ParseError unless `archive` is an Office Open XML package whose XML parts declare no DTD."""
    names = set(archive.namelist())
    if "[Content_Types].xml" not in names:
        kind = "looks like an OpenDocument file" if "mimetype" in names else "a ZIP archive without Office parts"
        raise ParseError(f"not a {what} file: {kind} (no [Content_Types].xml)")
    refuse_dtds(archive, what)


def refuse_dtds(archive: zipfile.ZipFile, what: str) -> None:
    """ParseError if an XML member of `archive` declares a DTD.

    Office and OpenDocument applications never write a DOCTYPE (Word and PowerPoint refuse to open
    one), so a part that has one is refused outright: no entity in it is ever resolved or expanded.
    """
    for info in archive.infolist():
        if not info.filename.endswith((".xml", ".rels")) or info.is_dir():
            continue
        try:
            with archive.open(info) as member:
                head = member.read(_DTD_HEAD)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise ParseError(f"corrupt {what} file: {info.filename}: {exc}") from exc
        if any(marker in head for marker in _DTD_MARKERS):
            raise ParseError(
                f"refused {what} file: {info.filename} declares a DTD (DOCTYPE), which Office never writes"
            )


def kind_of(content_type: str) -> str:
    """What an OOXML main part's content type says the file is, for a "not a DOCX file" message."""
    for marker, kind in (
        ("wordprocessingml", "looks like a Word document"),
        ("presentationml", "looks like a PowerPoint presentation"),
        ("spreadsheetml", "looks like an Excel workbook"),
        ("ms-word", "looks like a Word document"),
        ("ms-powerpoint", "looks like a PowerPoint presentation"),
        ("ms-excel", "looks like an Excel workbook"),
    ):
        if marker in content_type:
            return kind
    return f"its main part is {content_type or 'missing'}"


class Clock:
    """Raises ParseError once a parse has run longer than `limits.max_seconds`."""

    def __init__(self, limits: ParseLimits, what: str) -> None:
        self.limits = limits
        self.what = what
        self.started = time.monotonic()

    def check(self, progress: str) -> None:
        elapsed = time.monotonic() - self.started
        if elapsed > self.limits.max_seconds:
            raise ParseError(
                f"too slow: {self.what} still parsing after {elapsed:.0f} s ({progress}), "
                f"the limit is {self.limits.max_seconds:g} s (INGEST_MAX_PARSE_SECONDS)"
            )


def one_line(text: str) -> str:
    return " ".join(text.split())


def escape_line(line: str) -> str:
    """A line of body text that Markdown would read as a heading, a fence or an underline, escaped."""
    return _MARKDOWN_LINE.sub(lambda m: m.group(1) + "\\" + m.group(2), line, count=1)


def paragraph(text: str) -> str:
    """Body text as Markdown lines: trailing spaces dropped, structure-like lines escaped."""
    lines = [escape_line(line.strip()) for line in text.replace("\r", "\n").split("\n")]
    return "\n".join(line for line in lines if line)


def list_item(text: str, level: int = 0) -> str:
    return "  " * max(0, min(level, 8)) + "- " + one_line(text)


def heading(text: str, level: int) -> str:
    return "#" * max(1, min(level, 6)) + " " + one_line(text)


def markdown_table(rows: list[list[str]]) -> str:
    """Rows of cell texts as a Markdown table, the first row as its header; "" when all are empty."""
    cells = [[one_line(cell).replace("|", "\\|") for cell in row] for row in rows]
    cells = [row for row in cells if any(row)]
    if not cells:
        return ""
    width = max(len(row) for row in cells)
    lines = [
        "|" + "|".join(f" {cell} " if cell else " " for cell in row + [""] * (width - len(row))) + "|" for row in cells
    ]
    lines.insert(1, "|" + "---|" * width)
    return "\n".join(lines)


def join_blocks(blocks: list[tuple[str, str]]) -> str:
    """(kind, Markdown) blocks as text: a blank line between blocks, none between list items."""
    parts: list[str] = []
    previous = ""
    for kind, block in blocks:
        if not block:
            continue
        if parts:
            parts.append("\n" if kind == "list" and previous == "list" else "\n\n")
        parts.append(block)
        previous = kind
    return "".join(parts)


def unread_warning(what: str, count: int) -> str:
    """ "2 pictures not read ..." for `count` things of kind `what` (singular) whose content is not text."""
    return f"{count} {what if count == 1 else what + 's'} not read (only text is extracted)"


def iso(value: object) -> str:
    """A core-properties date as ISO 8601 ("" when absent); OOXML dates are UTC, and naive ones are taken as UTC."""
    if not isinstance(value, datetime):
        return ""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def core_metadata(properties: object) -> dict[str, str]:
    """author, created, modified, subject and keywords of python-docx/python-pptx core properties."""
    metadata = {
        "author": one_line(getattr(properties, "author", "") or ""),
        "created": iso(getattr(properties, "created", None)),
        "modified": iso(getattr(properties, "modified", None)),
        "subject": one_line(getattr(properties, "subject", "") or ""),
        "keywords": one_line(getattr(properties, "keywords", "") or ""),
    }
    return {key: value for key, value in metadata.items() if value}
