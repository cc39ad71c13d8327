"""Turn a file's bytes into Markdown-flavoured text with page boundaries and structure (the `documents` phase).

Headings are `#` lines (PDF headings from font size and weight, HTML <h1>-<h6>, Markdown as
written) and tables are Markdown tables, so that structure survives storage as plain text; the
chunker derives a chunk's section path from the `#` lines. One module per format family, and
`registry.py` maps file suffixes to them.
"""

from ingestion_assets.parsing.document import (
    PAGE_SEPARATOR,
    PARSER_VERSION,
    ParsedDocument,
    ParseError,
    ParseLimits,
    Section,
    document_format,
)
from ingestion_assets.parsing.html import html_to_text
from ingestion_assets.parsing.markdown import markdown_sections
from ingestion_assets.parsing.registry import FORMATS, format_for, parse_bytes, supported_suffixes
from ingestion_assets.parsing.text import decode_text

__all__ = [
    "FORMATS",
    "PAGE_SEPARATOR",
    "PARSER_VERSION",
    "ParseError",
    "ParseLimits",
    "ParsedDocument",
    "Section",
    "decode_text",
    "document_format",
    "format_for",
    "html_to_text",
    "markdown_sections",
    "parse_bytes",
    "supported_suffixes",
]
