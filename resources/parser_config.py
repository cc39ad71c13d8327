"""The parser's limits and options (`documents` phase): the `parser` resource."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field, field_validator

if TYPE_CHECKING:
    from resources.document_source import DocumentSource

OCR_MODES = ("auto", "on", "off")
_OCR_ALIASES = {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}


def ocr_mode(value: Any) -> str:
    """`auto`, `on` or `off` from a mode, a bool (run config written when `ocr` was one) or true/false words."""
    if isinstance(value, bool):
        return "on" if value else "off"
    mode = str(value).strip().lower()
    mode = _OCR_ALIASES.get(mode, mode)
    if mode not in OCR_MODES:
        raise ValueError(f"ocr (INGEST_OCR) must be one of auto, on, off (or true/false), not {value!r}")
    return mode


class ParserConfig(dg.ConfigurableResource):
    """A document over a limit fails with a clear reason instead of stalling its batch.

    `ocr` (`INGEST_OCR`) is what happens to pages without a text layer and to images: `auto` reads
    them with Tesseract when it is installed (else a warning names what to install), `on` as well,
    with a warning on every document when Tesseract is missing, `off` never reads them (a warning
    says so); `true`/`false` are read as `on`/`off`, and so is a boolean `ocr` that older run config
    sets on the `source` resource. `max_pages` (`INGEST_MAX_PAGES`) and
    `max_parse_seconds` (`INGEST_MAX_PARSE_SECONDS`) bound one document's parse.
    """

    max_pages: int = 5000
    max_parse_seconds: float = 300.0
    ocr: str = Field(
        default="auto",
        description="auto | on | off: OCR of pages without a text layer and of images (true/false: on/off)",
    )

    @field_validator("ocr", mode="before")
    @classmethod
    def _ocr_mode(cls, value: Any) -> str:
        return ocr_mode(value)

    def resolved(self, source: DocumentSource) -> ParserConfig:
        """These limits, or those that run config still sets on the `source` resource (where they were
        configured before the `parser` resource existed)."""
        legacy = {
            name: value
            for name in ("max_pages", "max_parse_seconds", "ocr")
            if (value := getattr(source, name)) is not None
        }
        if "ocr" in legacy:
            legacy["ocr"] = ocr_mode(legacy["ocr"])
        return self.model_copy(update=legacy) if legacy else self
