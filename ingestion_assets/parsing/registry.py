"""Which parser reads which file: every format, its file suffixes and its parser module, in one table.

A parser module has `parse(key, data, limits) -> ParsedDocument` and writes its structure into the
text (headings as `#` lines, tables as Markdown tables), so sections are always derived from the
stored text. Parser modules import their libraries inside `parse`: the registry stays light.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from ingestion_assets.parsing.document import ParseError, ParseLimits

if TYPE_CHECKING:
    from ingestion_assets.parsing.document import ParsedDocument


@dataclass(frozen=True)
class Format:
    name: str
    suffixes: tuple[str, ...]
    module: str
    """The parser module, under `ingestion_assets.parsing`."""

    def parse(self, key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
        return importlib.import_module(f"ingestion_assets.parsing.{self.module}").parse(key, data, limits)


FORMATS = (
    Format("text", (".txt", ".md", ".markdown"), "text"),
    Format("html", (".html", ".htm"), "html"),
    Format("eml", (".eml",), "email_message"),
    Format("markup", (".rst", ".rest", ".org", ".adoc", ".asciidoc"), "text"),
    Format("pymupdf", (".pdf", ".xps", ".oxps", ".epub", ".mobi", ".fb2", ".cbz", ".svg"), "pdf"),
    Format("image", (".png", ".jpg", ".jpeg", ".tif", ".tiff"), "image"),
    Format("docx", (".docx", ".docm", ".dotx", ".dotm"), "docx"),
    Format("pptx", (".pptx", ".pptm", ".ppsx", ".ppsm", ".potx", ".potm"), "pptx"),
    Format("odt", (".odt", ".ott"), "odf"),
    Format("odp", (".odp", ".otp"), "odf"),
    Format("xlsx", (".xlsx", ".xlsm"), "sheets"),
    Format("csv", (".csv", ".tsv"), "delimited"),
)
BY_SUFFIX = {suffix: fmt for fmt in FORMATS for suffix in fmt.suffixes}


def supported_suffixes() -> list[str]:
    """Every file suffix a parser reads, for the source's listing."""
    return sorted(BY_SUFFIX)


def format_for(key: str) -> Format:
    suffix = PurePosixPath(key).suffix.lower()
    fmt = BY_SUFFIX.get(suffix)
    if fmt is None:
        raise ParseError(f"unsupported file type {suffix or '(none)'}")
    return fmt


SIGNATURES = (
    (b"%PDF-", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
)
"""Content that says unambiguously what it is, whatever the file is called."""


def parse_bytes(key: str, data: bytes, limits: ParseLimits | None = None) -> ParsedDocument:
    """The document `key` parsed by the parser of its format (default limits unless given).

    A file whose content is unmistakably another format (a PDF named `.txt`) is parsed as what it
    is, with a warning; other mismatches fail in the parser with a reason that says what the
    content looks like.
    """
    limits = limits or ParseLimits()
    named = format_for(key)
    actual = next((suffix for magic, suffix in SIGNATURES if data.startswith(magic)), None)
    if actual is None or BY_SUFFIX[actual] is named:
        return named.parse(key, data, limits)
    path = PurePosixPath(key)
    doc = BY_SUFFIX[actual].parse(str(path.with_suffix(actual)), data, limits)
    doc.warnings.append(f"named {path.suffix or '(no suffix)'} but the content is {actual[1:].upper()}: read as such")
    return doc
