"""Images (PNG, JPEG, TIFF; one page per TIFF page) read by OCR, turned upright, as text with page offsets.

An image has no text layer, so only OCR reads it. When OCR is off or Tesseract is not installed the
image is not an error (nothing is wrong with the file): it is stored as an empty document whose
warning says why it has no text and what would read it; a later run with OCR re-reads it only when
the file or the parser version changes. The content decides the type (a JPEG named .png is read as
a JPEG); anything else, or an image of more than `ParseLimits.max_image_pixels`, is a ParseError.
"""

from __future__ import annotations

import math
import time
from pathlib import PurePosixPath

from ingestion_assets.parsing.containers import sniff
from ingestion_assets.parsing.document import ParsedDocument, ParseError, ParseLimits

_MAGIC = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg", b"II*\x00": "tiff", b"MM\x00*": "tiff"}
_NAMED = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF", "tiff": "TIFF"}
_MIN_SIDE = 2000
"""A smaller image is enlarged (up to 3 times) for OCR: Tesseract misreads small glyphs."""


def parse(key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    path = PurePosixPath(key)
    named = _NAMED.get(path.suffix.lower().lstrip("."), "image")
    if not data:
        raise ParseError("empty file (0 bytes)")
    kind = next((kind for magic, kind in _MAGIC.items() if data.startswith(magic)), None)
    if kind is None:
        raise ParseError(f"not a {named} image: {sniff(data)}")
    try:
        return _parse(path.stem, kind, data, limits)
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(f"corrupt {kind.upper()} image: {exc}") from exc


def _parse(stem: str, kind: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    import pymupdf

    from ingestion_assets.parsing.pdf import OCR_MAX_PIXELS, Ocr, assemble

    started = time.monotonic()
    with pymupdf.open(stream=data, filetype=kind) as doc:
        count = doc.page_count
        if count == 0:
            raise ParseError(f"corrupt {kind.upper()} image: no picture in it")
        if count > limits.max_pages:
            raise ParseError(f"too large: {count} pages, the limit is {limits.max_pages} (INGEST_MAX_PAGES)")
        sizes = []
        for page in doc:
            info = page.get_image_info()
            width, height = (info[0]["width"], info[0]["height"]) if info else (0, 0)
            if width * height > limits.max_image_pixels:
                raise ParseError(
                    f"too large: an image of {width}×{height} pixels ({width * height / 1e6:.0f} megapixels), "
                    f"the limit is {limits.max_image_pixels / 1e6:.0f} megapixels"
                )
            sizes.append((width, height))
        ocr = Ocr(limits, started)
        if not ocr.ready:
            text, offsets, _, _ = assemble([(page.rect.height, [], []) for page in doc])
            return ParsedDocument(kind, text, offsets, [f"image not read, nothing to search: {ocr.problem}"], stem)
        pages = []
        for page, (width, height) in zip(doc, sizes, strict=True):
            if time.monotonic() - started > limits.max_seconds:
                raise ParseError(
                    f"too slow: parsing took over {limits.max_seconds:g} s (INGEST_MAX_PARSE_SECONDS) "
                    f"and stopped at page {page.number + 1} of {count}"
                )
            scale = min(max(_MIN_SIDE / max(width, height, 1), 1.0), 3.0)
            scale = min(scale, math.sqrt(OCR_MAX_PIXELS / max(width * height, 1)))
            zoom = scale * width / page.rect.width if width else 1.0
            height_points, lines = ocr.read(
                lambda page=page, zoom=zoom: page.get_pixmap(
                    matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csGRAY, alpha=False
                ),
                page.number,
                1 / zoom,
            )
            pages.append((height_points, lines, []))
    text, offsets, sections, _ = assemble(pages)
    warnings = ocr.warnings(len(offsets), not text.strip())
    if not text.strip():
        warnings.append("no text recognised in the image: nothing to search")
    return ParsedDocument(kind, text, offsets, warnings, stem, sections, ocr.pages)
