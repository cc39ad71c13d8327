"""OpenDocument text and presentations (ODT, OTT, ODP, OTP), read from content.xml and meta.xml with the standard library.

- ODT: one page (`page_offsets == [0]`); `text:h` headings at their outline level, paragraphs,
  lists as `- ` lines indented by nesting, tables as Markdown tables (a spanned cell's text is
  repeated in the cells it covers), frames' text boxes after their paragraph, notes as `[^n]: text`
  after the citing paragraph. Not kept: tracked deletions, comments, a table of contents, page
  headers and footers (in styles.xml), pictures and embedded objects (counted in a warning).
- ODP: one page per slide, like PPTX: the title frame as a `## ` heading (`## Slide n` without
  one), then frames in reading order (top, then left; groups recursed), then `Notes: `.
  Date, footer and page-number frames are left out. `ParseLimits.max_pages` counts slides.
- Metadata from meta.xml: title (else the first top heading or slide title, else the file stem),
  author (initial creator, else last editor), created, modified, subject, keywords.

XML is parsed by expat (no external entities; entity amplification refused), and a part that
declares a DTD is refused before that. Encrypted (password-protected) files are refused.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import PurePosixPath
from typing import Any

from ingestion_assets.parsing import containers
from ingestion_assets.parsing.document import (
    PAGE_SEPARATOR,
    ParsedDocument,
    ParseError,
    ParseLimits,
    with_empty_warning,
)
from ingestion_assets.parsing.markdown import first_heading, markdown_sections
from ingestion_assets.parsing.office_text import (
    Clock,
    heading,
    join_blocks,
    list_item,
    markdown_table,
    one_line,
    paragraph,
    refuse_dtds,
    unread_warning,
)

OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
PRESENTATION = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}"
SVG = "{urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0}"
META = "{urn:oasis:names:tc:opendocument:xmlns:meta:1.0}"
DC = "{http://purl.org/dc/elements/1.1/}"
_MIMETYPES = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.text-template": "odt",
    "application/vnd.oasis.opendocument.presentation": "odp",
    "application/vnd.oasis.opendocument.presentation-template": "odp",
}
_KINDS = {"spreadsheet": "an OpenDocument spreadsheet", "graphics": "an OpenDocument drawing"}
_SKIPPED = {
    f"{TEXT}tracked-changes",
    f"{OFFICE}annotation",
    f"{TEXT}table-of-content",
    f"{TEXT}soft-page-break",
    f"{PRESENTATION}notes",
}
_FURNITURE = {"date-time", "footer", "page-number", "header"}
_MAX_REPEAT = 1000
"""A repeated row or column is written at most this often (spreadsheet-like tables repeat empty rows by the million)."""
_WHITESPACE = re.compile(r"[ \t\r\n]+")
"""Runs of white space in ODF text are one space; `text:s`, `text:tab` and `text:line-break` are the real ones."""
_UNITS = {"cm": 1.0, "mm": 0.1, "in": 2.54, "pt": 2.54 / 72, "pc": 2.54 / 6, "px": 2.54 / 96}


def parse(key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    if not data:
        raise ParseError("empty file (0 bytes)")
    expected = "ODP" if PurePosixPath(key).suffix.lower() in (".odp", ".otp") else "ODT"
    clock = Clock(limits, expected)
    with containers.open_zip(data, expected) as archive:
        kind = _kind(archive, expected)
        refuse_dtds(archive, expected)
        content = _xml(archive, "content.xml", expected)
        meta = _xml(archive, "meta.xml", expected) if "meta.xml" in archive.namelist() else None
    reader = _Reader(clock, limits)
    try:
        body = content.find(f"{OFFICE}body")
        if body is None:
            raise ParseError(f"corrupt {expected} file: content.xml has no office:body")
        if kind == "odp":
            pages = reader.slides(body.find(f"{OFFICE}presentation"))
        else:
            pages = [join_blocks(reader.blocks(body.find(f"{OFFICE}text")))]
        metadata, core_title = _metadata(meta)
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(f"corrupt {expected} file: {type(exc).__name__}: {exc}") from exc
    offsets, position = [], 0
    for text in pages:
        offsets.append(position)
        position += len(text) + len(PAGE_SEPARATOR)
    text = PAGE_SEPARATOR.join(pages)
    sections = markdown_sections(text)
    fallback = reader.first_title if kind == "odp" else first_heading(sections, 1)
    title = core_title or fallback or PurePosixPath(key).stem
    warnings = [unread_warning(what, count) for what, count in reader.unread.items()]
    document = ParsedDocument(kind, text, offsets or [0], warnings, title, sections, metadata=metadata)
    return with_empty_warning(document)


def _kind(archive: zipfile.ZipFile, expected: str) -> str:
    names = set(archive.namelist())
    if "mimetype" not in names:
        what = (
            "an Office Open XML file" if "[Content_Types].xml" in names else "a ZIP archive without OpenDocument parts"
        )
        raise ParseError(f"not an {expected} file: looks like {what} (no mimetype)")
    mimetype = archive.read("mimetype")[:200].decode("ascii", "replace").strip()
    kind = _MIMETYPES.get(mimetype)
    if kind is None:
        what = next((v for k, v in _KINDS.items() if mimetype.endswith(k)), f"a {mimetype or 'blank'} file")
        raise ParseError(f"not an {expected} file: looks like {what}")
    if kind.upper() != expected:
        raise ParseError(f"not an {expected} file: looks like an {kind.upper()} file")
    if "META-INF/manifest.xml" in names and b"encryption-data" in archive.read("META-INF/manifest.xml"):
        raise ParseError(f"encrypted {expected} file: password-protected files cannot be read")
    if "content.xml" not in names:
        raise ParseError(f"corrupt {expected} file: no content.xml")
    return kind


def _xml(archive: zipfile.ZipFile, name: str, what: str) -> Any:
    import xml.etree.ElementTree as ET

    try:
        return ET.fromstring(archive.read(name))
    except ET.ParseError as exc:
        raise ParseError(f"corrupt {what} file: {name}: {exc}") from exc
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ParseError(f"corrupt {what} file: {name}: {exc}") from exc


def _metadata(meta: Any) -> tuple[dict[str, str], str]:
    if meta is None:
        return {}, ""
    fields = meta.find(f"{OFFICE}meta")
    if fields is None:
        return {}, ""

    def value(tag: str) -> str:
        element = fields.find(tag)
        return one_line(element.text or "") if element is not None else ""

    metadata = {
        "author": value(f"{META}initial-creator") or value(f"{DC}creator"),
        "created": value(f"{META}creation-date"),
        "modified": value(f"{DC}date"),
        "subject": value(f"{DC}subject"),
        "keywords": ", ".join(one_line(k.text or "") for k in fields.iterfind(f"{META}keyword") if k.text),
    }
    return {k: v for k, v in metadata.items() if v}, value(f"{DC}title")


class _Reader:
    def __init__(self, clock: Clock, limits: ParseLimits) -> None:
        self.clock = clock
        self.limits = limits
        self.unread: dict[str, int] = {}
        self.notes = 0
        self.first_title = ""
        self.visited = 0

    def blocks(self, container: Any, level: int = 0) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if container is None:
            return out
        for child in container:
            tag = child.tag
            if tag in _SKIPPED:
                continue
            if tag in (f"{TEXT}h", f"{TEXT}p"):
                self.paragraph(child, out, level)
            elif tag == f"{TEXT}list":
                for item in child:
                    if item.tag in (f"{TEXT}list-item", f"{TEXT}list-header"):
                        out.extend(self.blocks(item, level + 1))
            elif tag == f"{TABLE}table":
                out.append(("table", self.table(child)))
            elif tag in (f"{TEXT}section", f"{DRAW}text-box", f"{TEXT}index-body"):
                out.extend(self.blocks(child, level))
            elif tag in (f"{DRAW}frame", f"{DRAW}g"):
                out.extend(self.shape(child))
        return out

    def paragraph(self, element: Any, out: list[tuple[str, str]], level: int) -> None:
        self.visited += 1
        if self.visited % 200 == 1:
            self.clock.check(f"{self.visited} paragraphs read")
        parts: list[str] = []
        notes: list[str] = []
        boxes: list[Any] = []
        self.inline(element, parts, notes, boxes)
        text = "".join(parts)
        if text.strip():
            if element.tag == f"{TEXT}h":
                outline = element.get(f"{TEXT}outline-level", "1")
                out.append(("heading", heading(text, int(outline) if outline.isdigit() else 1)))
            elif level:
                out.append(("list", list_item(text, level - 1)))
            else:
                out.append(("text", paragraph(text)))
        out.extend(("note", note) for note in notes)
        for box in boxes:
            out.extend(self.blocks(box))

    def inline(self, element: Any, parts: list[str], notes: list[str], boxes: list[Any]) -> None:
        if element.text:
            parts.append(_WHITESPACE.sub(" ", element.text))
        for child in element:
            tag = child.tag
            if tag == f"{TEXT}s":
                count = child.get(f"{TEXT}c", "1")
                parts.append(" " * min(int(count) if count.isdigit() else 1, 100))
            elif tag == f"{TEXT}tab":
                parts.append("\t")
            elif tag == f"{TEXT}line-break":
                parts.append("\n")
            elif tag == f"{TEXT}note":
                body = child.find(f"{TEXT}note-body")
                texts = [] if body is None else [one_line(self.plain(p)) for p in body.iter() if p.tag == f"{TEXT}p"]
                if any(texts):
                    self.notes += 1
                    parts.append(f"[^{self.notes}]")
                    notes.append(f"[^{self.notes}]: " + " ".join(t for t in texts if t))
            elif tag == f"{DRAW}frame":
                self.frame_content(child, boxes)
            elif tag not in _SKIPPED:
                self.inline(child, parts, notes, boxes)
            if child.tail:
                parts.append(_WHITESPACE.sub(" ", child.tail))

    def plain(self, element: Any) -> str:
        parts: list[str] = []
        self.inline(element, parts, [], [])
        return "".join(parts)

    def frame_content(self, frame: Any, boxes: list[Any]) -> None:
        for child in frame:
            if child.tag == f"{DRAW}text-box":
                boxes.append(child)
                return
            if child.tag == f"{DRAW}image":
                self.count("picture")
                return
            if child.tag == f"{DRAW}object" or child.tag == f"{DRAW}object-ole":
                self.count("embedded object")
                return
            if child.tag == f"{TABLE}table":
                boxes.append(frame)
                return

    def table(self, element: Any) -> str:
        rows: list[list[str]] = []
        spans: dict[tuple[int, int], str] = {}
        for row in _rows(element):
            repeat = _count(row, f"{TABLE}number-rows-repeated")
            cells: list[str] = []
            r = len(rows)
            for cell in row:
                if cell.tag not in (f"{TABLE}table-cell", f"{TABLE}covered-table-cell"):
                    continue
                covered = cell.tag == f"{TABLE}covered-table-cell"
                text = "" if covered else self.cell_text(cell)
                for _ in range(_count(cell, f"{TABLE}number-columns-repeated")):
                    c = len(cells)
                    if covered:
                        cells.append(spans.get((r, c), ""))
                        continue
                    cells.append(text)
                    for dr in range(_count(cell, f"{TABLE}number-rows-spanned")):
                        for dc in range(_count(cell, f"{TABLE}number-columns-spanned")):
                            spans[(r + dr, c + dc)] = text
            while cells and not cells[-1]:
                cells.pop()
            rows.extend([cells] * (repeat if cells else 1))
        return markdown_table(rows)

    def cell_text(self, cell: Any) -> str:
        texts = [one_line(self.plain(p)) for p in cell.iter() if p.tag in (f"{TEXT}p", f"{TEXT}h")]
        return " ".join(text for text in texts if text)

    def slides(self, presentation: Any) -> list[str]:
        if presentation is None:
            return []
        pages = presentation.findall(f"{DRAW}page")
        if len(pages) > self.limits.max_pages:
            raise ParseError(f"too large: {len(pages)} slides, the limit is {self.limits.max_pages} (INGEST_MAX_PAGES)")
        return [self.slide(page, number) for number, page in enumerate(pages, 1)]

    def slide(self, page: Any, number: int) -> str:
        self.clock.check(f"slide {number}")
        title = ""
        body: list[tuple[str, str]] = []
        for shape in _reading_order(page):
            role = shape.get(f"{PRESENTATION}class", "")
            if role == "title" and not title:
                title = one_line(" ".join(self.plain(p) for p in shape.iter() if p.tag == f"{TEXT}p"))
            elif role not in _FURNITURE:
                body.extend(self.shape(shape))
        if number == 1:
            self.first_title = title
        blocks = [("heading", heading(title or f"Slide {number}", 2)), *body]
        notes = page.find(f"{PRESENTATION}notes")
        if notes is not None:
            texts = [
                paragraph(self.plain(p))
                for frame in notes.iter(f"{DRAW}frame")
                if frame.get(f"{PRESENTATION}class") == "notes"
                for p in frame.iter(f"{TEXT}p")
            ]
            texts = [t for t in texts if t]
            if texts:
                blocks.append(("notes", "Notes: " + "\n".join(texts)))
        return join_blocks(blocks)

    def shape(self, shape: Any) -> list[tuple[str, str]]:
        if shape.tag == f"{DRAW}g":
            return [block for child in _reading_order(shape) for block in self.shape(child)]
        if shape.tag == f"{DRAW}frame":
            boxes: list[Any] = []
            self.frame_content(shape, boxes)
            return [block for box in boxes for block in self.blocks(box)]
        return self.blocks(shape)

    def count(self, what: str) -> None:
        self.unread[what] = self.unread.get(what, 0) + 1


def _rows(table: Any) -> list[Any]:
    rows = []
    for child in table:
        if child.tag == f"{TABLE}table-row":
            rows.append(child)
        elif child.tag in (f"{TABLE}table-header-rows", f"{TABLE}table-rows", f"{TABLE}table-row-group"):
            rows.extend(_rows(child))
    return rows


def _count(element: Any, attribute: str) -> int:
    value = element.get(attribute, "1")
    return max(1, min(int(value), _MAX_REPEAT)) if value.isdigit() else 1


def _reading_order(container: Any) -> list[Any]:
    shapes = [child for child in container if child.tag.startswith(DRAW) and child.tag != f"{DRAW}layer-set"]
    return sorted(shapes, key=_position)


def _position(shape: Any) -> tuple[float, float]:
    """(top, left) of a shape; a group's is its topmost, then leftmost, member's."""
    if shape.tag == f"{DRAW}g":
        return min((_position(child) for child in shape if child.tag.startswith(DRAW)), default=(0.0, 0.0))
    return _length(shape.get(f"{SVG}y")), _length(shape.get(f"{SVG}x"))


def _length(value: str | None) -> float:
    match = re.fullmatch(r"\s*(-?[\d.]+)\s*([a-z]*)\s*", value or "")
    if not match:
        return 0.0
    try:
        return float(match.group(1)) * _UNITS.get(match.group(2), 1.0)
    except ValueError:
        return 0.0
