"""PowerPoint (PPTX, PPTM, PPSX, PPSM, POTX, POTM): one page per slide, its title a `##` heading, then its text and notes.

- Each slide is a page (`page_offsets` are slide starts; page n is slide n) and starts with its
  title placeholder as a `## ` heading, or `## Slide n` when it has none, so every chunk knows its slide.
- Then the text of its shapes in reading order (top to bottom, then left to right; a group's shapes
  in their own order at the group's place): paragraphs of body placeholders and bulleted paragraphs
  as `- ` lines indented by level, other paragraphs as text, tables as Markdown tables (the first
  row as header; a merged cell's text is repeated in every cell it covers).
- Then the speaker notes as a `Notes: ` block.
- Not kept: date, footer and slide-number placeholders (furniture repeated on every slide), layout
  and master text, pictures, charts, SmartArt, media and embedded objects (counted in a warning).
- `title` is the core-properties title (unless it is PowerPoint's default "PowerPoint
  Presentation"), else the first slide's title, else the file stem; metadata: author, created,
  modified, subject, keywords. `ParseLimits.max_pages` counts slides, hidden ones included.

Macros are never run: python-pptx reads the XML parts only. XML is parsed by lxml without entity
resolution or network access, and a part that declares a DTD is refused before any parser sees it.
"""

from __future__ import annotations

import io
import re
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
from ingestion_assets.parsing.markdown import markdown_sections
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

A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_MAIN_TYPES = (
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml",
    "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml",
    "application/vnd.ms-powerpoint.template.macroEnabled.main+xml",
)
_DEFAULT_TITLES = {"powerpoint presentation", "presentation"}
_SLIDE_MEMBER = re.compile(r"^ppt/slides/slide\d+\.xml$")
_GRAPHIC_KINDS = {"chart": "chart", "diagram": "SmartArt diagram"}


def parse(key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    if not data:
        raise ParseError("empty file (0 bytes)")
    clock = Clock(limits, "PPTX")
    with containers.open_zip(data, "PPTX") as archive:
        check_package(archive, "PPTX")
        slide_parts = sum(1 for name in archive.namelist() if _SLIDE_MEMBER.match(name))
    _check_slide_count(slide_parts, limits)
    presentation = _open(data)
    try:
        reader = _Reader(clock)
        slides = list(presentation.slides)
        _check_slide_count(len(slides), limits)
        pages = [reader.slide(slide, number) for number, slide in enumerate(slides, 1)]
        properties = _core_properties(presentation.part.package)
        metadata = core_metadata(properties)
        core_title = one_line(getattr(properties, "title", "") or "")
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(f"corrupt PPTX file: {type(exc).__name__}: {exc}") from exc
    offsets, position = [], 0
    for text in pages:
        offsets.append(position)
        position += len(text) + len(PAGE_SEPARATOR)
    text = PAGE_SEPARATOR.join(pages)
    if core_title.lower() in _DEFAULT_TITLES:
        core_title = ""
    title = core_title or reader.first_title or PurePosixPath(key).stem
    warnings = [unread_warning(what, count) for what, count in reader.unread.items()]
    document = ParsedDocument("pptx", text, offsets or [0], warnings, title, markdown_sections(text), metadata=metadata)
    return with_empty_warning(document)


def _check_slide_count(count: int, limits: ParseLimits) -> None:
    if count > limits.max_pages:
        raise ParseError(f"too large: {count} slides, the limit is {limits.max_pages} (INGEST_MAX_PAGES)")


def _open(data: bytes) -> Any:
    from pptx.opc.package import PartFactory
    from pptx.package import Package
    from pptx.parts.presentation import PresentationPart

    for content_type in _MAIN_TYPES:
        PartFactory.part_type_for.setdefault(content_type, PresentationPart)
    try:
        part = Package.open(io.BytesIO(data)).main_document_part
    except Exception as exc:
        raise ParseError(f"corrupt PPTX file: {type(exc).__name__}: {exc}") from exc
    if part.content_type not in _MAIN_TYPES:
        raise ParseError(f"not a PPTX file: {kind_of(part.content_type)}")
    return part.presentation


def _core_properties(package: Any) -> Any:
    """The package's core properties, or None (python-pptx would invent defaults for a package without them)."""
    from pptx.opc.constants import RELATIONSHIP_TYPE

    try:
        return package.part_related_by(RELATIONSHIP_TYPE.CORE_PROPERTIES)
    except (KeyError, ValueError):
        return None


class _Reader:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.first_title = ""
        self.unread: dict[str, int] = {}

    def slide(self, slide: Any, number: int) -> str:
        self.clock.check(f"slide {number}")
        title_shape = _title_shape(slide.shapes)
        title = one_line(title_shape.text_frame.text) if title_shape is not None else ""
        if number == 1:
            self.first_title = title
        blocks = [("heading", heading(title or f"Slide {number}", 2))]
        blocks.extend(self.shapes(slide.shapes, skip=title_shape))
        if slide.has_notes_slide:
            frame = slide.notes_slide.notes_text_frame
            notes = [paragraph(p.text.replace("\v", "\n")) for p in frame.paragraphs] if frame is not None else []
            notes = [note for note in notes if note]
            if notes:
                blocks.append(("notes", "Notes: " + "\n".join(notes)))
        return join_blocks(blocks)

    def shapes(self, shapes: Any, skip: Any = None) -> list[tuple[str, str]]:
        from pptx.enum.shapes import PP_PLACEHOLDER
        from pptx.shapes.graphfrm import GraphicFrame
        from pptx.shapes.group import GroupShape
        from pptx.shapes.picture import Movie, Picture

        blocks: list[tuple[str, str]] = []
        for shape in sorted(shapes, key=lambda s: (s.top or 0, s.left or 0)):
            if skip is not None and shape.element is skip.element:
                continue
            if isinstance(shape, GroupShape):
                blocks.extend(self.shapes(shape.shapes))
            elif isinstance(shape, GraphicFrame):
                if shape.has_table:
                    blocks.append(("table", _table(shape.table)))
                else:
                    self.count(_graphic_kind(shape))
            elif isinstance(shape, Picture):
                self.count("picture")
            elif isinstance(shape, Movie):
                self.count("media clip")
            elif shape.has_text_frame:
                placeholder = shape.placeholder_format.type if shape.is_placeholder else None
                if placeholder in (PP_PLACEHOLDER.DATE, PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.SLIDE_NUMBER):
                    continue
                bulleted = placeholder in (
                    PP_PLACEHOLDER.BODY,
                    PP_PLACEHOLDER.OBJECT,
                    PP_PLACEHOLDER.VERTICAL_BODY,
                    PP_PLACEHOLDER.VERTICAL_OBJECT,
                )
                blocks.extend(_text_frame(shape.text_frame, bulleted))
        return blocks

    def count(self, what: str) -> None:
        self.unread[what] = self.unread.get(what, 0) + 1


def _title_shape(shapes: Any) -> Any:
    from pptx.enum.shapes import PP_PLACEHOLDER

    titles = (PP_PLACEHOLDER.TITLE, PP_PLACEHOLDER.CENTER_TITLE, PP_PLACEHOLDER.VERTICAL_TITLE)
    for shape in shapes.placeholders:
        if shape.placeholder_format.type in titles and shape.has_text_frame:
            return shape
    return None


def _text_frame(frame: Any, bulleted: bool) -> list[tuple[str, str]]:
    """Paragraphs of a text frame: list items where bulleted (by the placeholder or by the paragraph), else text."""
    blocks = []
    for p in frame.paragraphs:
        text = p.text.replace("\v", "\n")
        if not text.strip():
            continue
        properties = p._p.find(f"{A}pPr")
        bullet = bulleted
        if properties is not None:
            if properties.find(f"{A}buNone") is not None:
                bullet = False
            elif properties.find(f"{A}buChar") is not None or properties.find(f"{A}buAutoNum") is not None:
                bullet = True
        blocks.append(("list", list_item(text, p.level)) if bullet else ("text", paragraph(text)))
    return blocks


def _table(table: Any) -> str:
    rows, columns = len(table.rows), len(table.columns)
    grid: list[list[str | None]] = [[None] * columns for _ in range(rows)]
    for r in range(rows):
        for c in range(columns):
            if grid[r][c] is not None:
                continue
            cell = table.cell(r, c)
            text = one_line(cell.text)
            height, width = (cell.span_height, cell.span_width) if cell.is_merge_origin else (1, 1)
            for rr in range(r, min(rows, r + height)):
                for cc in range(c, min(columns, c + width)):
                    grid[rr][cc] = text
    return markdown_table([[cell or "" for cell in row] for row in grid])


def _graphic_kind(frame: Any) -> str:
    data = frame.element.find(f".//{A}graphicData")
    uri = data.get("uri", "") if data is not None else ""
    return _GRAPHIC_KINDS.get(uri.rsplit("/", 1)[-1], "embedded object")
