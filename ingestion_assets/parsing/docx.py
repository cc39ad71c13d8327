"""Word (DOCX, DOCM, DOTX, DOTM): body text in document order with headings, lists, tables, text boxes and footnotes.

- Headings: paragraphs whose outline level (`w:outlineLvl`, on the paragraph or its style chain)
  is 0-8, else whose style is "Heading N" (level N, at most 6) or "Title" (level 1).
- Lists: numbered paragraphs (`w:numPr`, on the paragraph or its style) and "List Bullet/Number N"
  styles become `- ` lines, indented two spaces per level; numbers are not kept.
- Tables: Markdown tables in document order, the first row as header; a merged cell's text is
  repeated in every grid cell it covers (across and down), so each row reads alone; nested tables
  and paragraphs in a cell are joined into the cell's one line.
- Text boxes (`w:txbxContent`) follow the paragraph that anchors them, once (the VML fallback copy
  of a DrawingML text box is skipped). Footnotes and endnotes are written `[^n]: text` after the
  paragraph that cites them (`[^n]`).
- Not kept: running headers and footers (page furniture, like the PDF parser's), comments,
  deleted and moved-from revision text, field codes (their results are kept), a generated table of
  contents, pictures, charts, equations and embedded objects (each counted in a warning).
- Word has no fixed pages: the document is one page (`page_offsets == [0]`); `ParseLimits.max_pages`
  is checked against the page count Word saved in docProps/app.xml, when there is one.
- Core properties give `title` (else the first level-1 heading, else the file stem) and the
  metadata author, created, modified, subject and keywords.

Macros are never run: python-docx reads the XML parts only and never opens a DOCM's vbaProject.bin.
XML is parsed by lxml without entity resolution or network access, and a part that declares a DTD
is refused before any parser sees it.
"""

from __future__ import annotations

import io
import re
from pathlib import PurePosixPath
from typing import Any

from ingestion_assets.parsing import containers
from ingestion_assets.parsing.document import ParsedDocument, ParseError, ParseLimits, with_empty_warning
from ingestion_assets.parsing.markdown import first_heading, markdown_sections
from ingestion_assets.parsing.office_text import (
    Clock,
    check_package,
    core_metadata,
    heading,
    join_blocks,
    kind_of,
    list_item,
    markdown_table,
    one_line,
    paragraph,
    unread_warning,
)

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_MAIN_TYPES = (
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "application/vnd.ms-word.document.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
)
_SKIPPED = {
    f"{W}txbxContent",
    f"{MC}Fallback",
    f"{W}moveFrom",
    f"{W}del",
    f"{W}pPr",
    f"{W}rPr",
    f"{W}instrText",
    f"{W}delText",
    f"{W}commentReference",
}
"""Subtrees of a paragraph whose text is not its own: text boxes (read as blocks of their own),
the fallback copy of alternate content, removed revisions, properties and field codes."""
_WARNED = {
    "{http://schemas.openxmlformats.org/drawingml/2006/main}blip": "picture",
    "{urn:schemas-microsoft-com:vml}imagedata": "picture",
    "{http://schemas.openxmlformats.org/drawingml/2006/chart}chart": "chart",
    "{http://schemas.openxmlformats.org/officeDocument/2006/math}oMath": "equation",
    f"{W}object": "embedded object",
}
_LIST_STYLE = re.compile(r"^list (?:bullet|number|continue)(?: (\d))?$")
_HEADING_STYLE = re.compile(r"^heading (\d)$")
_PAGES = re.compile(rb"<(?:\w+:)?Pages>\s*(\d+)\s*<")


def parse(key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    if not data:
        raise ParseError("empty file (0 bytes)")
    clock = Clock(limits, "DOCX")
    with containers.open_zip(data, "DOCX") as archive:
        check_package(archive, "DOCX")
        pages = _saved_page_count(archive)
    if pages > limits.max_pages:
        raise ParseError(f"too large: {pages} pages, the limit is {limits.max_pages} (INGEST_MAX_PAGES)")
    document = _open(data)
    try:
        reader = _Reader(document, clock)
        text = join_blocks(reader.blocks(document.element.body))
        properties = _core_properties(document.part.package)
        metadata = core_metadata(properties)
        core_title = one_line(getattr(properties, "title", "") or "")
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(f"corrupt DOCX file: {type(exc).__name__}: {exc}") from exc
    sections = markdown_sections(text)
    title = core_title or first_heading(sections, 1) or PurePosixPath(key).stem
    warnings = [unread_warning(what, count) for what, count in reader.unread.items()]
    return with_empty_warning(ParsedDocument("docx", text, [0], warnings, title, sections, metadata=metadata))


def _saved_page_count(archive: Any) -> int:
    try:
        info = archive.getinfo("docProps/app.xml")
    except KeyError:
        return 0
    if info.file_size > 1 << 20:
        return 0
    match = _PAGES.search(archive.read(info))
    return int(match.group(1)) if match else 0


def _core_properties(package: Any) -> Any:
    """The package's core properties, or None (python-docx would invent defaults for a package without them)."""
    from docx.opc.constants import RELATIONSHIP_TYPE

    if not any(rel.reltype == RELATIONSHIP_TYPE.CORE_PROPERTIES for rel in package.rels.values()):
        return None
    return package.core_properties


def _open(data: bytes) -> Any:
    from docx.opc.package import OpcPackage
    from docx.opc.part import PartFactory
    from docx.parts.document import DocumentPart

    for content_type in _MAIN_TYPES:
        PartFactory.part_type_for.setdefault(content_type, DocumentPart)
    try:
        part = OpcPackage.open(io.BytesIO(data)).main_document_part
    except Exception as exc:
        raise ParseError(f"corrupt DOCX file: {type(exc).__name__}: {exc}") from exc
    if part.content_type not in _MAIN_TYPES:
        raise ParseError(f"not a DOCX file: {kind_of(part.content_type)}")
    return part.document


class _Reader:
    """Walks the body's XML, turning paragraphs and tables into (kind, Markdown) blocks."""

    def __init__(self, document: Any, clock: Clock) -> None:
        self.clock = clock
        self.styles = _Styles(document.styles.element)
        self.notes = _notes(document.part)
        self.note_numbers: dict[tuple[str, str], int] = {}
        self.unread: dict[str, int] = {}
        self.visited = 0

    def blocks(self, container: Any) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for child in container:
            tag = child.tag
            if tag == f"{W}p":
                self.paragraph(child, out)
            elif tag == f"{W}tbl":
                out.append(("table", self.table(child)))
            elif tag == f"{W}sdt":
                if not _is_toc(child):
                    out.extend(self.blocks(_content_of(child)))
            elif tag in (f"{W}customXml", f"{W}sdtContent", f"{W}ins", f"{W}smartTag"):
                out.extend(self.blocks(child))
            elif tag == f"{MC}AlternateContent":
                choice = child.find(f"{MC}Choice")
                if choice is not None:
                    out.extend(self.blocks(choice))
        return out

    def paragraph(self, p: Any, out: list[tuple[str, str]]) -> None:
        self.visited += 1
        if self.visited % 200 == 1:
            self.clock.check(f"{self.visited} paragraphs read")
        notes: list[str] = []
        text = self.run_text(p, notes)
        style = _val(p.find(f"{W}pPr/{W}pStyle"))
        if text.strip() and not self.styles.is_toc(style):
            out.append(self.block(p, style, text))
        out.extend(("note", note) for note in notes)
        for box in _text_boxes(p):
            out.extend(self.blocks(box))

    def block(self, p: Any, style: str, text: str) -> tuple[str, str]:
        level = _outline(p.find(f"{W}pPr/{W}outlineLvl"))
        if level is None:
            level = self.styles.heading_level(style)
        if level:
            return "heading", heading(text, level)
        list_level = self.list_level(p, style)
        if list_level is not None:
            return "list", list_item(text, list_level)
        return "text", paragraph(text)

    def list_level(self, p: Any, style: str) -> int | None:
        num = p.find(f"{W}pPr/{W}numPr")
        if num is not None:
            if _val(num.find(f"{W}numId")) == "0":
                return None
            level = _val(num.find(f"{W}ilvl"))
            if level.isdigit():
                return int(level)
        return self.styles.list_level(style, numbered=num is not None)

    def run_text(self, element: Any, notes: list[str]) -> str:
        parts: list[str] = []
        self._collect(element, parts, notes)
        return "".join(parts)

    def _collect(self, element: Any, parts: list[str], notes: list[str]) -> None:
        for child in element:
            tag = child.tag
            if not isinstance(tag, str) or tag in _SKIPPED:
                continue
            if tag == f"{W}t":
                parts.append(child.text or "")
            elif tag in (f"{W}tab", f"{W}ptab"):
                parts.append("\t")
            elif tag in (f"{W}br", f"{W}cr"):
                parts.append("\n")
            elif tag == f"{W}noBreakHyphen":
                parts.append("-")
            elif tag in (f"{W}footnoteReference", f"{W}endnoteReference"):
                kind = "footnote" if tag == f"{W}footnoteReference" else "endnote"
                note = self.notes.get((kind, child.get(f"{W}id", "")))
                if note:
                    number = self.note_numbers.setdefault((kind, child.get(f"{W}id", "")), len(self.note_numbers) + 1)
                    parts.append(f"[^{number}]")
                    notes.append(f"[^{number}]: {note}")
            else:
                what = _WARNED.get(tag)
                if what:
                    self.unread[what] = self.unread.get(what, 0) + 1
                    if what != "picture":
                        continue
                self._collect(child, parts, notes)

    def table(self, tbl: Any) -> str:
        rows: list[list[str]] = []
        above: list[str] = []
        for tr in _children(tbl, f"{W}tr"):
            row = [""] * _int(tr.find(f"{W}trPr/{W}gridBefore"), 0)
            self.visited += 1
            for tc in _children(tr, f"{W}tc"):
                span = max(1, min(_int(tc.find(f"{W}tcPr/{W}gridSpan"), 1), 64))
                merge = tc.find(f"{W}tcPr/{W}vMerge")
                column = len(row)
                if merge is not None and _val(merge) != "restart" and column < len(above):
                    text = above[column]
                else:
                    text = self.cell_text(tc)
                row.extend([text] * span)
            rows.append(row)
            above = row
        return markdown_table(rows)

    def cell_text(self, tc: Any) -> str:
        texts = []
        for p in _paragraphs(tc):
            texts.append(one_line(self.run_text(p, [])))
        return " ".join(text for text in texts if text)


class _Styles:
    """Paragraph styles by id: their name, parent, outline level and numbering."""

    def __init__(self, element: Any) -> None:
        self.styles: dict[str, tuple[str, str, int | None, Any]] = {}
        self.default = ""
        for style in element.iterfind(f"{W}style"):
            if style.get(f"{W}type") not in (None, "paragraph"):
                continue
            style_id = style.get(f"{W}styleId", "")
            if style.get(f"{W}default") in ("1", "true", "on"):
                self.default = style_id
            self.styles[style_id] = (
                _val(style.find(f"{W}name")).lower(),
                _val(style.find(f"{W}basedOn")),
                _outline(style.find(f"{W}pPr/{W}outlineLvl")),
                style.find(f"{W}pPr/{W}numPr"),
            )

    def chain(self, style_id: str) -> list[tuple[str, str, int | None, Any]]:
        chain = []
        current = style_id or self.default
        while current in self.styles and len(chain) < 16:
            chain.append(self.styles[current])
            current = self.styles[current][1]
        return chain

    def heading_level(self, style_id: str) -> int:
        for name, _, outline, _ in self.chain(style_id):
            if outline is not None:
                return outline
            match = _HEADING_STYLE.match(name)
            if match:
                return int(match.group(1))
            if name == "title":
                return 1
        return 0

    def list_level(self, style_id: str, numbered: bool) -> int | None:
        for name, _, _, num in self.chain(style_id):
            match = _LIST_STYLE.match(name)
            if match:
                return int(match.group(1) or 1) - 1
            if num is not None and _val(num.find(f"{W}numId")) != "0":
                level = _val(num.find(f"{W}ilvl"))
                return int(level) if level.isdigit() else 0
        return 0 if numbered else None

    def is_toc(self, style_id: str) -> bool:
        return bool(style_id) and self.styles.get(style_id, ("",))[0].startswith("toc ")


def _notes(part: Any) -> dict[tuple[str, str], str]:
    """Footnote and endnote texts by (kind, id), separators left out."""
    from docx.oxml.parser import parse_xml

    notes: dict[tuple[str, str], str] = {}
    for rel in part.rels.values():
        kind = rel.reltype.rsplit("/", 1)[-1]
        if kind not in ("footnotes", "endnotes") or rel.is_external:
            continue
        root = parse_xml(rel.target_part.blob)
        for note in root:
            if note.get(f"{W}type") not in (None, "normal"):
                continue
            texts = [one_line("".join(t.text or "" for t in p.iter(f"{W}t"))) for p in _paragraphs(note)]
            text = " ".join(t for t in texts if t)
            if text:
                notes[(kind[:-1], note.get(f"{W}id", ""))] = text
    return notes


def _paragraphs(element: Any) -> list[Any]:
    """The paragraphs under `element` in document order, the fallback copies of alternate content left out."""
    found = []
    for child in element:
        if not isinstance(child.tag, str) or child.tag == f"{MC}Fallback":
            continue
        if child.tag == f"{W}p":
            found.append(child)
        found.extend(_paragraphs(child))
    return found


def _text_boxes(p: Any) -> list[Any]:
    """The text boxes anchored in paragraph `p` (not those nested in another text box or in a fallback)."""
    boxes = []
    stack = [child for child in p]
    while stack:
        element = stack.pop(0)
        if not isinstance(element.tag, str) or element.tag == f"{MC}Fallback":
            continue
        if element.tag == f"{W}txbxContent":
            boxes.append(element)
        else:
            stack[:0] = list(element)
    return boxes


def _children(element: Any, tag: str) -> list[Any]:
    """Children with `tag`, looking through content controls and custom XML that wrap them."""
    found = []
    for child in element:
        if child.tag == tag:
            found.append(child)
        elif child.tag in (f"{W}sdt", f"{W}customXml", f"{W}sdtContent"):
            found.extend(_children(child, tag))
    return found


def _content_of(sdt: Any) -> Any:
    content = sdt.find(f"{W}sdtContent")
    return content if content is not None else []


def _is_toc(sdt: Any) -> bool:
    gallery = sdt.find(f"{W}sdtPr/{W}docPartObj/{W}docPartGallery")
    return gallery is not None and _val(gallery).lower().startswith("table of contents")


def _val(element: Any) -> str:
    return "" if element is None else element.get(f"{W}val", "")


def _int(element: Any, default: int) -> int:
    value = _val(element)
    return int(value) if value.isdigit() else default


def _outline(element: Any) -> int | None:
    """A heading level 1-9 from `w:outlineLvl` (0-8), 0 for body text (9), None when absent."""
    value = _val(element)
    if not value.isdigit():
        return None
    return int(value) + 1 if int(value) < 9 else 0
