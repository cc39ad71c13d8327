"""What a parser returns: the document as Markdown-flavoured text with page boundaries, and its limits."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, NamedTuple

from resources.tables import DEFAULT_SOURCE, DocumentRow

if TYPE_CHECKING:
    from datetime import datetime

    from resources.parser_config import ParserConfig

PARSER_VERSION = f"parse-3+pymupdf-{version('pymupdf')}"
PAGE_SEPARATOR = "\n\n"


class ParseError(ValueError):
    """The document cannot be turned into text; the message says why, for a human."""


class Section(NamedTuple):
    """A heading: where it starts in `ParsedDocument.text`, its level (1 = top) and its text."""

    char_start: int
    level: int
    title: str


@dataclass
class ParsedDocument:
    format: str
    text: str
    page_offsets: list[int]
    """Character offset in `text` where each page starts; text formats are a single page."""
    warnings: list[str] = field(default_factory=list)
    title: str = ""
    """First top-level heading, else the PDF metadata title / HTML <title>, else the file stem."""
    sections: list[Section] = field(default_factory=list)
    """Headings in text order, positioned in `text` (the start of their `#` line)."""
    ocr_pages: int = 0
    """Pages whose text was recognised by OCR (scanned pages without a text layer)."""
    metadata: dict[str, str] = field(default_factory=dict)
    """What the file says about itself: author, created, modified; from, to, subject, date of a message."""

    @property
    def page_count(self) -> int:
        return len(self.page_offsets)

    @classmethod
    def from_row(cls, row: DocumentRow) -> ParsedDocument:
        """A stored parse, as the parser returned it (headings are read again from the text's `#` lines)."""
        return cls(
            row.format,
            row.text or "",
            list(row.page_offsets or [0]),
            list(row.warnings or []),
            title=row.title or "",
            ocr_pages=row.ocr_pages or 0,
            metadata=json.loads(row.metadata) if row.metadata else {},
        )

    def row(
        self,
        doc_id: str,
        source_uri: str,
        content_hash: str,
        size_bytes: int,
        mtime: datetime,
        ingested_at: datetime,
        *,
        source: str = DEFAULT_SOURCE,
    ) -> DocumentRow:
        """The `documents` row of this parse of the file `doc_id` of `source`."""
        return DocumentRow(
            doc_id=doc_id,
            source_uri=source_uri,
            content_hash=content_hash,
            size_bytes=size_bytes,
            mtime=mtime,
            format=self.format,
            page_count=self.page_count,
            text=self.text,
            page_offsets=self.page_offsets,
            parser_version=PARSER_VERSION,
            ingested_at=ingested_at,
            warnings=self.warnings,
            title=self.title,
            ocr_pages=self.ocr_pages,
            metadata=json.dumps(self.metadata, sort_keys=True, ensure_ascii=False) if self.metadata else None,
            source=source,
        )


def document_format(key: str) -> str:
    return PurePosixPath(key).suffix.lower().lstrip(".") or "unknown"


@dataclass(frozen=True)
class ParseLimits:
    """A document over a limit fails with a clear reason instead of stalling its batch."""

    max_pages: int = 5000
    max_seconds: float = 300.0
    ocr: str = "off"
    """Pages without a text layer, and images: `auto` reads them with Tesseract when it is installed,
    `on` as well and warns on every document when it is not, `off` never reads them (the default
    here; the `parser` resource's default is `auto`). `True` and `False` are taken as `on` and `off`."""
    ocr_language: str = "eng"
    """Tesseract language(s), e.g. "eng" or "deu+eng"."""
    ocr_dpi: int = 300
    max_image_pixels: int = 100_000_000
    """An image (or TIFF page) with more pixels is refused: decoding it could take gigabytes."""

    def __post_init__(self) -> None:
        mode = ("on" if self.ocr else "off") if isinstance(self.ocr, bool) else str(self.ocr).strip().lower()
        if mode not in ("auto", "on", "off"):
            raise ValueError(f"OCR mode must be auto, on or off, not {self.ocr!r}")
        object.__setattr__(self, "ocr", mode)

    @classmethod
    def of(cls, config: ParserConfig) -> ParseLimits:
        return cls(max_pages=config.max_pages, max_seconds=config.max_parse_seconds, ocr=config.ocr)


def with_empty_warning(doc: ParsedDocument) -> ParsedDocument:
    if not doc.text.strip():
        doc.warnings.append("no text (empty file): nothing to search")
    return doc
