"""The parser's limits and options (`documents` phase): the `parser` resource."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from resources.document_source import DocumentSource


class ParserConfig(dg.ConfigurableResource):
    """A document over a limit fails with a clear reason instead of stalling its batch.

    `ocr` recognises the text of pages without a text layer with Tesseract, when it is installed
    (`INGEST_OCR`); `max_pages` (`INGEST_MAX_PAGES`) and `max_parse_seconds`
    (`INGEST_MAX_PARSE_SECONDS`) bound one document's parse.
    """

    max_pages: int = 5000
    max_parse_seconds: float = 300.0
    ocr: bool = False

    def resolved(self, source: DocumentSource) -> ParserConfig:
        """These limits, or those that run config still sets on the `source` resource (where they were
        configured before the `parser` resource existed)."""
        legacy = {
            name: value
            for name in ("max_pages", "max_parse_seconds", "ocr")
            if (value := getattr(source, name)) is not None
        }
        return self.model_copy(update=legacy) if legacy else self
