"""Plain text and Markdown: the bytes decoded, headings read from the `#` lines (not in .txt)."""

from __future__ import annotations

import codecs
from pathlib import PurePosixPath

from ingestion_assets.parsing.document import ParsedDocument, ParseError, ParseLimits, with_empty_warning
from ingestion_assets.parsing.markdown import first_heading, markdown_sections

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


def parse(key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    suffix = PurePosixPath(key).suffix.lower()
    text, warnings = decode_text(data)
    sections = markdown_sections(text, atx=suffix != ".txt")
    title = first_heading(sections, 1) or PurePosixPath(key).stem
    return with_empty_warning(ParsedDocument(suffix.lstrip("."), text, [0], warnings, title, sections))
