"""PDF and the other formats PyMuPDF opens: text by page, headings from font size and weight, ruled tables, OCR.

PDF clean-up: running headers and footers (the same line, page numbers aside, in the top or
bottom band of most pages) are dropped, words hyphenated at line ends are joined, ligature glyphs
(ﬁ, ﬂ, ...) are expanded, and scanned pages without a text layer are read with Tesseract when
`ParseLimits.ocr` is on and `tesseract` is installed.
"""

from __future__ import annotations

import bisect
import math
import re
import shutil
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ingestion_assets.parsing.document import PAGE_SEPARATOR, ParsedDocument, ParseError, ParseLimits, Section
from ingestion_assets.parsing.markdown import title_heading

_LIGATURES = str.maketrans({chr(cp): unicodedata.normalize("NFKC", chr(cp)) for cp in range(0xFB00, 0xFB07)})
_BAND = 0.1
"""Running headers and footers live in the top and bottom tenth of the page."""
_HEADING_RATIO = 1.15
_BULLET = re.compile(r"^([•·▪◦‣●○■□–—*+-]\s|\(?\d{1,3}[.)]\s|\(?[a-z][.)]\s)")


@dataclass
class _Line:
    page: int
    block: int
    bbox: tuple[float, float, float, float]
    text: str
    size: float
    bold: bool
    mono: bool
    role: str = "body"  # body | heading | furniture | table
    level: int = 0


@dataclass
class _Table:
    page: int
    bbox: tuple[float, float, float, float]
    markdown: str


def _parse_with_pymupdf(filetype: str, data: bytes, limits: ParseLimits, stem: str = "") -> ParsedDocument:
    import pymupdf

    if not data:
        raise ParseError("empty file (0 bytes)")
    started = time.monotonic()
    truncated = filetype == "pdf" and data.startswith(b"%PDF") and b"%%EOF" not in data[-2048:]
    try:
        doc = pymupdf.open(stream=data, filetype=filetype)
    except Exception as exc:
        if truncated:
            raise ParseError("truncated PDF: the file ends before its %%EOF marker (incomplete copy?)") from exc
        raise ParseError(f"not a readable {filetype.upper()} file: {exc}") from exc
    warnings = []
    ocr = limits.ocr and shutil.which("tesseract") is not None
    if limits.ocr and not ocr:
        warnings.append("OCR is enabled but Tesseract is not installed: scanned pages stay empty")
    with doc:
        if doc.needs_pass:
            raise ParseError(f"{filetype.upper()} is password-protected")
        if filetype == "pdf" and doc.is_repaired:
            if truncated:
                raise ParseError("truncated PDF: the file ends before its %%EOF marker (incomplete copy?)")
            warnings.append("damaged PDF structure, repaired by MuPDF: check the text is complete")
        if doc.page_count > limits.max_pages:
            raise ParseError(f"too large: {doc.page_count} pages, the limit is {limits.max_pages} (INGEST_MAX_PAGES)")
        pages: list[tuple[float, list[_Line], list[_Table]]] = []
        ocr_pages = 0
        try:
            for page in doc:
                if time.monotonic() - started > limits.max_seconds:
                    raise ParseError(
                        f"too slow: parsing took over {limits.max_seconds:g} s (INGEST_MAX_PARSE_SECONDS) "
                        f"and stopped at page {page.number + 1} of {doc.page_count}"
                    )
                lines, tables, recognised = _read_page(page, limits if ocr else None)
                ocr_pages += recognised
                pages.append((page.rect.height, lines, tables))
        except ParseError:
            raise
        except Exception as exc:
            raise ParseError(f"damaged {filetype.upper()} (page {len(pages) + 1}): {exc}") from exc
        metadata_title = (doc.metadata or {}).get("title") or ""
    text, offsets, sections = _assemble(pages)
    if ocr_pages:
        warnings.append(f"{ocr_pages} page(s) read by OCR: check the text for recognition errors")
    if offsets and not text.strip():
        warnings.append(f"{len(offsets)} page(s) but no text layer (scanned image?): nothing to search")
    title = title_heading(sections) or _sane_title(metadata_title) or stem
    return ParsedDocument(filetype, text, offsets, warnings, title, sections, ocr_pages)


def _sane_title(title: str) -> str:
    title = " ".join(title.split())
    if (
        not title
        or re.search(r"\.(docx?|pdf|tex|odt|rtf|indd|qxp)$", title, re.I)
        or title.lower() in {"untitled", "title"}
    ):
        return ""
    return title


def _read_page(page: Any, ocr: ParseLimits | None) -> tuple[list[_Line], list[_Table], int]:
    """Lines (with font size, weight, monospace) and ruled tables of one page."""
    import pymupdf

    flags = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
    content = page.get_text("dict", flags=flags)
    recognised = 0
    if ocr is not None and not any(b["type"] == 0 for b in content["blocks"]) and page.get_images():
        textpage = page.get_textpage_ocr(flags=flags, language=ocr.ocr_language, dpi=ocr.ocr_dpi, full=True)
        content = page.get_text("dict", textpage=textpage)
        recognised = 1
    lines: list[_Line] = []
    for number, block in enumerate(content["blocks"]):
        if block["type"] != 0:
            continue
        for line in block["lines"]:
            spans = [s for s in line["spans"] if s["text"].strip()]
            if not spans:
                continue
            text = "".join(s["text"] for s in line["spans"]).translate(_LIGATURES).strip()
            if recognised:  # OCR text: one invisible font, sizes guessed; no styles to go by
                lines.append(_Line(page.number, number, tuple(line["bbox"]), " ".join(text.split()), 0.0, False, False))
                continue
            bold = all(s["flags"] & 16 or "bold" in s["font"].lower() for s in spans)
            mono = all(s["flags"] & 8 or _is_mono(s["font"]) for s in spans)
            lines.append(
                _Line(page.number, number, tuple(line["bbox"]), text, max(s["size"] for s in spans), bold, mono)
            )
    tables = _ruled_tables(page, lines) if lines and not recognised else []
    return lines, tables, recognised


def _is_mono(font: str) -> bool:
    font = font.lower()
    return "mono" in font or "courier" in font or "consol" in font or font.startswith("cour")


def _ruled_tables(page: Any, lines: list[_Line]) -> list[_Table]:
    """Tables drawn with ruling lines or cell rectangles, as Markdown; their lines are marked.

    Vector graphics are grouped into connected clusters; a cluster whose vertical and horizontal
    rules give at least two columns and two rows is a grid, and each line of text inside it goes to
    the cell holding its centre. (PyMuPDF's `find_tables` does the same and more, but is far too
    slow to run on every page of every document.)
    """
    try:
        paths = page.get_cdrawings()
    except Exception:
        return []
    if len(paths) < 4:
        return []
    horizontal: list[tuple[float, float, float]] = []  # (y, x0, x1)
    vertical: list[tuple[float, float, float]] = []  # (x, y0, y1)
    for path in paths:
        for item in path["items"]:
            kind = item[0]
            if kind == "re" or kind == "qu":
                x0, y0, x1, y1 = item[1] if kind == "re" else _quad_rect(item[1])
                if x1 - x0 < 2 and y1 - y0 < 2:
                    continue
                if y1 - y0 < 2:  # a filled thin rectangle drawn as a rule
                    horizontal.append(((y0 + y1) / 2, x0, x1))
                elif x1 - x0 < 2:
                    vertical.append(((x0 + x1) / 2, y0, y1))
                else:
                    horizontal += [(y0, x0, x1), (y1, x0, x1)]
                    vertical += [(x0, y0, y1), (x1, y0, y1)]
            elif kind == "l":
                (ax, ay), (bx, by) = item[1], item[2]
                if abs(ay - by) < 1 and abs(ax - bx) >= 3:
                    horizontal.append((ay, min(ax, bx), max(ax, bx)))
                elif abs(ax - bx) < 1 and abs(ay - by) >= 3:
                    vertical.append((ax, min(ay, by), max(ay, by)))
    if len(horizontal) < 3 or len(vertical) < 3:
        return []
    segments = [(x0, y - 1, x1, y + 1, "h", y) for y, x0, x1 in horizontal]
    segments += [(x - 1, y0, x + 1, y1, "v", x) for x, y0, y1 in vertical]
    clusters: list[list] = []  # [x0, y0, x1, y1, segments]
    for seg in segments:
        touching = [
            c
            for c in clusters
            if seg[0] <= c[2] + 2 and seg[2] >= c[0] - 2 and seg[1] <= c[3] + 2 and seg[3] >= c[1] - 2
        ]
        if not touching:
            clusters.append([seg[0], seg[1], seg[2], seg[3], [seg]])
            continue
        main = touching[0]
        for other in touching[1:]:
            main[4] += other[4]
            main[0:4] = [min(main[0], other[0]), min(main[1], other[1]), max(main[2], other[2]), max(main[3], other[3])]
            clusters.remove(other)
        main[4].append(seg)
        main[0:4] = [min(main[0], seg[0]), min(main[1], seg[1]), max(main[2], seg[2]), max(main[3], seg[3])]
    tables = []
    for *_, members in clusters:
        xs = _snap(sorted(s[5] for s in members if s[4] == "v"))
        ys = _snap(sorted(s[5] for s in members if s[4] == "h"))
        if len(xs) < 3 or len(ys) < 3:
            continue
        cells: dict[tuple[int, int], list[_Line]] = {}
        inside = []
        for line in lines:
            cx, cy = (line.bbox[0] + line.bbox[2]) / 2, (line.bbox[1] + line.bbox[3]) / 2
            if xs[0] <= cx <= xs[-1] and ys[0] <= cy <= ys[-1]:
                row = min(max(bisect.bisect_right(ys, cy) - 1, 0), len(ys) - 2)
                col = min(max(bisect.bisect_right(xs, cx) - 1, 0), len(xs) - 2)
                cells.setdefault((row, col), []).append(line)
                inside.append(line)
        if len(cells) < 2:
            continue
        for line in inside:
            line.role = "table"
        rows = []
        for r in range(len(ys) - 1):
            row = [
                " ".join(ln.text for ln in sorted(cells.get((r, c), []), key=lambda ln: (ln.bbox[1], ln.bbox[0])))
                for c in range(len(xs) - 1)
            ]
            if any(row):
                rows.append(["" if not cell else cell.replace("|", "\\|") for cell in row])
        markdown = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        markdown += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        tables.append(_Table(lines[0].page, (xs[0], ys[0], xs[-1], ys[-1]), "\n".join(markdown)))
    return tables


def _quad_rect(quad: Any) -> tuple[float, float, float, float]:
    points = [tuple(p) for p in quad]
    return min(p[0] for p in points), min(p[1] for p in points), max(p[0] for p in points), max(p[1] for p in points)


def _snap(values: list[float], tolerance: float = 2.0) -> list[float]:
    snapped: list[float] = []
    for value in values:
        if not snapped or value - snapped[-1] > tolerance:
            snapped.append(value)
    return snapped


def _furniture_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _mark_furniture(pages: list[tuple[float, list[_Line], list[_Table]]]) -> None:
    """Running headers and footers: the same text (page numbers aside) in the top or bottom band
    of at least half the pages (two at least). A page keeps its only line."""
    if len(pages) < 2:
        return
    seen: Counter[tuple[str, str]] = Counter()
    for height, lines, _ in pages:
        keys = set()
        for line in lines:
            band = (
                "top" if line.bbox[3] <= height * _BAND else "bottom" if line.bbox[1] >= height * (1 - _BAND) else None
            )
            if band:
                keys.add((band, _furniture_key(line.text)))
        seen.update(keys)
    needed = max(2, math.ceil(len(pages) / 2))
    running = {key for key, count in seen.items() if count >= needed}
    if not running:
        return
    for height, lines, _ in pages:
        marked = []
        for line in lines:
            band = (
                "top" if line.bbox[3] <= height * _BAND else "bottom" if line.bbox[1] >= height * (1 - _BAND) else None
            )
            if band and (band, _furniture_key(line.text)) in running:
                marked.append(line)
        if len(marked) < sum(1 for ln in lines if ln.role != "table"):
            for line in marked:
                line.role = "furniture"


def _mark_headings(pages: list[tuple[float, list[_Line], list[_Table]]]) -> None:
    """Headings: short lines in a larger font than the body text, or all bold at body size and
    not monospace. Levels follow the heading styles, largest first."""
    sizes: Counter[float] = Counter()
    total = 0
    for _, lines, _ in pages:
        for line in lines:
            if line.role == "body" and line.size:
                sizes[round(line.size * 2) / 2] += len(line.text)
                total += len(line.text)
    if not sizes:
        return
    body = sizes.most_common(1)[0][0]
    candidates: list[_Line] = []
    styles: Counter[tuple[float, bool]] = Counter()
    for _, lines, _ in pages:
        for line in lines:
            if (
                line.role != "body"
                or not line.size
                or len(line.text) > 150
                or sum(ch.isalpha() for ch in line.text) < 2
            ):
                continue
            size = round(line.size * 2) / 2
            larger = size >= body * _HEADING_RATIO and (line.bold or size >= body * 1.3)
            if larger or (line.bold and not line.mono and size >= body - 0.5):
                candidates.append(line)
                styles[(size, line.bold)] += len(line.text)
    # a style that makes up a quarter of the text is body text, not headings
    heading_styles = sorted(
        (s for s, chars in styles.items() if chars <= 0.25 * total), key=lambda s: (-s[0], not s[1])
    )
    levels = {style: min(i + 1, 6) for i, style in enumerate(heading_styles)}
    for line in candidates:
        level = levels.get((round(line.size * 2) / 2, line.bold))
        if level:
            line.role, line.level = "heading", level


def _hyphenated_words(pages: list[tuple[float, list[_Line], list[_Table]]]) -> tuple[set[str], set[str]]:
    hyphenated: set[str] = set()
    plain: set[str] = set()
    for _, lines, _ in pages:
        for line in lines:
            words = re.findall(r"[A-Za-z]+(?:-[A-Za-z]+)*", line.text.lower())
            for word in words:
                (hyphenated if "-" in word else plain).add(word)
    return hyphenated, plain


def _join_lines(lines: list[_Line], hyphenated: set[str], plain: set[str]) -> str:
    """A paragraph's lines as one line; code keeps its line breaks; words split at line ends are
    joined ("config-" + "uration" -> "configuration") unless the document spells the hyphenated
    form elsewhere ("command-" + "line" -> "command-line")."""
    out = lines[0].text
    for previous, line in zip(lines, lines[1:], strict=False):
        nxt = line.text
        if previous.mono or line.mono:
            out += "\n" + nxt
            continue
        split = re.search(r"([A-Za-z]+)-$", out)
        if split and nxt[:1].islower():
            tail = re.match(r"[a-z]+", nxt)
            head = split.group(1).lower()
            joined_hyphen = f"{head}-{tail.group(0) if tail else ''}"
            if joined_hyphen in hyphenated and f"{head}{tail.group(0) if tail else ''}" not in plain:
                out += nxt
            else:
                out = out[:-1] + nxt
        elif _BULLET.match(nxt):
            out += "\n" + nxt
        else:
            out += " " + nxt
    return out


def _assemble(pages: list[tuple[float, list[_Line], list[_Table]]]) -> tuple[str, list[int], list[Section]]:
    _mark_furniture(pages)
    _mark_headings(pages)
    hyphenated, plain = _hyphenated_words(pages)
    parts: list[str] = []
    offsets: list[int] = []
    sections: list[Section] = []
    position = 0
    for _, lines, tables in pages:
        offsets.append(position)
        items: list[tuple[float, float, int, Any]] = []
        blocks: dict[int, list[_Line]] = {}
        for line in lines:
            if line.role in ("body", "heading"):
                blocks.setdefault(line.block, []).append(line)
        for block_lines in blocks.values():
            items.append((block_lines[0].bbox[1], block_lines[0].bbox[0], 0, block_lines))
        for table in tables:
            items.append((table.bbox[1], table.bbox[0], 1, table))
        items.sort(key=lambda item: (round(item[0]), item[1]))
        paragraphs: list[str] = []
        page_sections: list[tuple[int, Section]] = []
        for _, _, kind, payload in items:
            if kind == 1:
                paragraphs.append(payload.markdown)
                continue
            run: list[_Line] = []
            for line in payload + [None]:
                if run and (line is None or line.role != run[-1].role or line.level != run[-1].level):
                    if run[0].role == "heading":
                        title = " ".join(ln.text for ln in run)
                        page_sections.append((len(paragraphs), Section(0, run[0].level, title)))
                        paragraphs.append("#" * run[0].level + " " + title)
                    else:
                        paragraphs.append(_join_lines(run, hyphenated, plain))
                    run = []
                if line is not None:
                    run.append(line)
        # positions of the headings of this page in the document text
        page_position = position
        starts = []
        for paragraph in paragraphs:
            starts.append(page_position)
            page_position += len(paragraph) + 2
        for index, section in page_sections:
            sections.append(section._replace(char_start=starts[index]))
        page_text = "\n\n".join(paragraphs)
        parts.append(page_text)
        position += len(page_text) + len(PAGE_SEPARATOR)
    return PAGE_SEPARATOR.join(parts), offsets, sections


def parse(key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    path = PurePosixPath(key)
    return _parse_with_pymupdf(path.suffix.lower().lstrip("."), data, limits, path.stem)
