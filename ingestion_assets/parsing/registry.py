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
    Format("pymupdf", (".pdf", ".xps", ".oxps", ".epub", ".mobi", ".fb2", ".cbz", ".svg"), "pdf"),
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


def parse_bytes(key: str, data: bytes, limits: ParseLimits | None = None) -> ParsedDocument:
    """The document `key` parsed by the parser of its format (default limits unless given)."""
    return format_for(key).parse(key, data, limits or ParseLimits())
