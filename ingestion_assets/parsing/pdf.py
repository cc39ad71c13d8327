"""PDF and the other formats PyMuPDF opens: text by page, headings, ruled tables, OCR of scanned pages.

PDF clean-up: running headers and footers (the same line, page numbers aside, in the top or
bottom band of most pages) are dropped, words hyphenated at line ends are joined, ligature glyphs
(ﬁ, ﬂ, ...) are expanded.

Headings come from the PDF's outline (bookmarks) when it has one: each entry is matched to its
line on its page and keeps the outline's level. Without an outline they come from the type: a
short line in a larger or bold font, not ending like a sentence, not a list of names, a caption,
an address or a date, and followed by text; "3.2 Foo" takes its level from its numbering; of the
lines before the first paragraph (a cover page, a paper's author block) only the title and the
headings right above that paragraph are headings.

OCR (`ParseLimits.ocr`): pages without a text layer are read by the `tesseract` program, page
orientation detected (`--psm 1`), and read again turned upside down when the words come out with
low confidence (the orientation detection does not turn a page on a weak margin). `auto` reads
them when Tesseract is installed, `on` also warns on every document when it is not, `off` never
reads them; a page left unread is always named in a warning.
"""

from __future__ import annotations

import bisect
import functools
import math
import os
import re
import shutil
import subprocess
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
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
_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,5}|[A-Z](?:\.\d{1,2}){1,5})\.?\s+(?=\S)")
_CAPTION = re.compile(
    r"^(figure|fig\.|table|tab\.|listing|chart|exhibit|plate|source|sources|note|notes)\s*[\dIVX:.]", re.I
)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(
    rf"^(?:(?:{_MONTH}\s+)?(?:\d{{1,2}},?\s+)?\d{{4}}|\d{{1,2}}\s+{_MONTH}\s+\d{{4}}|\d{{4}}-\d{{2}}(?:-\d{{2}})?|"
    rf"\d{{1,2}}[./]\d{{1,2}}[./]\d{{2,4}})$",
    re.I,
)
_LABEL = re.compile(r"^[A-Z][a-z]*:\s+\S")
"""A "To: ...", "Date: ..." or "Note: ..." line."""
_NAME = re.compile(r"^(?:[A-Z][\w'’-]*\.?|[A-Z]\.)(?:\s+(?:[A-Z][\w'’-]*\.?|[A-Z]\.|van|von|de|der|da|di|le|la)){1,3}$")
_OCR_RETRY_CONFIDENCE = 75.0
"""Below this mean word confidence an OCR page is read again turned by 180 degrees."""
_OCR_DOUBTFUL = 60.0
"""Below this mean word confidence the page's text is flagged as likely wrong."""
OCR_MAX_PIXELS = 40_000_000
"""A page or image is rendered for OCR at no more than this many pixels."""


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


Page = tuple[float, list[_Line], list[_Table]]
"""A page's height in points, its lines and its ruled tables."""


@functools.lru_cache(maxsize=8)
def _tesseract_languages(binary: str, tessdata: str) -> frozenset[str]:
    """The languages `tesseract --list-langs` names (`tessdata` keys the cache to TESSDATA_PREFIX)."""
    try:
        listed = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(line.strip() for line in listed.stdout.splitlines()[1:] if line.strip())


class Ocr:
    """Tesseract for one document: whether it can read scans here (and if not, why), and the reading
    of page images, turned upright; what it did is summed up by `warnings`."""

    def __init__(self, limits: ParseLimits, started: float) -> None:
        self.limits, self.started = limits, started
        self.binary: str | None = None
        self.problem = ""
        self.osd = False
        self.pages = 0
        self.skipped: list[int] = []
        self.turned: list[tuple[int, int]] = []
        self.doubtful: list[tuple[int, float]] = []
        self.failed: list[tuple[int, str]] = []
        if limits.ocr == "off":
            self.problem = "OCR is off (INGEST_OCR=off)"
            return
        binary = shutil.which("tesseract")
        if binary is None:
            self.problem = "Tesseract is not installed (install the tesseract-ocr package to read scans)"
            return
        languages = _tesseract_languages(binary, os.environ.get("TESSDATA_PREFIX", ""))
        missing = [lang for lang in limits.ocr_language.split("+") if lang not in languages]
        if missing:
            package = "tesseract-ocr-" + missing[0].lower().replace("_", "-")
            self.problem = f"Tesseract has no language data for {'+'.join(missing)} (install {package})"
            return
        self.binary, self.osd = binary, "osd" in languages

    @property
    def ready(self) -> bool:
        return self.binary is not None

    def read(self, render: Callable[[], Any], number: int, points_per_pixel: float) -> tuple[float, list[_Line]]:
        """The lines of page `number` (0-based), from the grey pixmap `render` gives, in upright
        coordinates (points); and the upright page's height."""
        import pymupdf

        self.pages += 1
        pix = render()
        dpi = round(72 / points_per_pixel)
        words = self._recognise(pix, number, dpi)
        confidence = _confidence(words)
        flipped = False
        if words and confidence < _OCR_RETRY_CONFIDENCE and self._seconds_left() > 1:
            turned = pymupdf.Pixmap(pymupdf.csGRAY, pix.width, pix.height, pix.samples[::-1], False)
            again = self._recognise(turned, number, dpi)
            if again and _confidence(again) > confidence:
                words, confidence, flipped = again, _confidence(again), True
        angle, lines, (_, height) = _ocr_lines(words, pix.width, pix.height, number, points_per_pixel)
        angle = (angle + (180 if flipped else 0)) % 360
        if angle:
            self.turned.append((number, angle))
        if words and confidence < _OCR_DOUBTFUL:
            self.doubtful.append((number, confidence))
        return height, lines

    def _seconds_left(self) -> float:
        return self.limits.max_seconds - (time.monotonic() - self.started)

    def _recognise(
        self, pix: Any, number: int, dpi: int
    ) -> list[tuple[tuple[int, ...], tuple[float, ...], float, str]]:
        """Tesseract's words: ((block, paragraph, line), (x0, y0, x1, y1) pixels, confidence, text)."""
        assert self.binary is not None
        command = [self.binary, "-", "-", "-l", self.limits.ocr_language, "--psm", "1" if self.osd else "3"]
        command += ["--dpi", str(dpi), "tsv"]
        left = self._seconds_left()
        if left <= 0:
            raise _too_slow(self.limits, number)
        try:
            done = subprocess.run(
                command,
                input=pix.tobytes("pnm"),
                capture_output=True,
                timeout=left,
                check=False,
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            )
        except subprocess.TimeoutExpired as exc:
            raise _too_slow(self.limits, number) from exc
        if done.returncode != 0:
            reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
            self.failed.append((number, reason[-1] if reason else f"exit status {done.returncode}"))
            return []
        words = []
        for row in done.stdout.decode("utf-8", "replace").splitlines()[1:]:
            cells = row.split("\t")
            if len(cells) != 12 or cells[0] != "5" or not cells[11].strip():
                continue
            x, y, w, h = (float(c) for c in cells[6:10])
            words.append(
                ((int(cells[2]), int(cells[3]), int(cells[4])), (x, y, x + w, y + h), float(cells[10]), cells[11])
            )
        return words

    def warnings(self, pages: int, empty: bool) -> list[str]:
        """What OCR did and did not do to this document, for the user."""
        warnings = []
        if self.limits.ocr == "on" and not self.ready:
            warnings.append(f"OCR is on but {self.problem[0].lower()}{self.problem[1:]}: scanned pages stay empty")
        if self.skipped and empty and len(self.skipped) == pages:
            warnings.append(f"{pages} page(s) but no text layer (scanned image?), not read: {self.problem}")
        elif self.skipped:
            warnings.append(f"{_pages(self.skipped)} no text layer (scanned image?), not read: {self.problem}")
        if self.pages:
            done = f"{self.pages} page(s) read by OCR: check the text for recognition errors"
            if self.turned:
                done += "; turned upright: " + ", ".join(f"page {n + 1} by {a}°" for n, a in self.turned)
            warnings.append(done)
        for number, confidence in self.doubtful:
            warnings.append(f"page {number + 1}: low OCR confidence ({confidence:.0f}%), the text may be wrong")
        for number, reason in self.failed:
            warnings.append(f"page {number + 1}: OCR failed ({reason}): the page stays empty")
        return warnings


def _too_slow(limits: ParseLimits, number: int) -> ParseError:
    return ParseError(
        f"too slow: parsing took over {limits.max_seconds:g} s (INGEST_MAX_PARSE_SECONDS) "
        f"and stopped at page {number + 1} (OCR)"
    )


def _pages(numbers: list[int]) -> str:
    shown = ", ".join(str(n + 1) for n in numbers[:10]) + (
        f" and {len(numbers) - 10} more" if len(numbers) > 10 else ""
    )
    return f"page {shown} has" if len(numbers) == 1 else f"pages {shown} have"


def _confidence(words: list) -> float:
    scores = [conf for _, _, conf, text in words if conf >= 0 and any(ch.isalnum() for ch in text)]
    return sum(scores) / len(scores) if scores else 0.0


def _ocr_lines(
    words: list, width: int, height: int, number: int, points_per_pixel: float
) -> tuple[int, list[_Line], tuple[float, float]]:
    """Tesseract's words as lines in upright page coordinates (points).

    Tesseract reports boxes in the image as given; when its orientation detection turned the page,
    the words of a line run down, up or right-to-left. That direction gives the angle by which the
    boxes are turned back: 90 when lines run down the image (its top is on the right)."""
    lines: dict[tuple[int, ...], list] = {}
    for key, box, _, text in words:
        lines.setdefault(key, []).append((box, text))
    votes: Counter[int] = Counter()
    for members in lines.values():
        if len(members) < 2:
            continue
        (a, _), (b, _) = members[0], members[-1]
        dx = (b[0] + b[2] - a[0] - a[2]) / 2
        dy = (b[1] + b[3] - a[1] - a[3]) / 2
        angle = (0 if dx > 0 else 180) if abs(dx) >= abs(dy) else (90 if dy > 0 else 270)
        votes[angle] += 1
    angle = votes.most_common(1)[0][0] if votes else 0

    def upright(box: tuple[float, ...]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = box
        if angle == 90:
            x0, y0, x1, y1 = y0, width - x1, y1, width - x0
        elif angle == 180:
            x0, y0, x1, y1 = width - x1, height - y1, width - x0, height - y0
        elif angle == 270:
            x0, y0, x1, y1 = height - y1, x0, height - y0, x1
        return x0 * points_per_pixel, y0 * points_per_pixel, x1 * points_per_pixel, y1 * points_per_pixel

    blocks: dict[tuple[int, int], int] = {}
    out = []
    for key, members in lines.items():
        text = " ".join(" ".join(t for _, t in members).translate(_LIGATURES).split())
        if not any(ch.isalnum() for ch in text):
            continue
        boxes = [upright(box) for box, _ in members]
        bbox = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        block = blocks.setdefault(key[:2], len(blocks))
        out.append(_Line(number, block, bbox, text, 0.0, False, False))
    size = (height, width) if angle in (90, 270) else (width, height)
    return angle, out, (size[0] * points_per_pixel, size[1] * points_per_pixel)


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
    ocr = Ocr(limits, started)
    with doc:
        if doc.needs_pass:
            raise ParseError(f"{filetype.upper()} is password-protected")
        if filetype == "pdf" and doc.is_repaired:
            if truncated:
                raise ParseError("truncated PDF: the file ends before its %%EOF marker (incomplete copy?)")
            warnings.append("damaged PDF structure, repaired by MuPDF: check the text is complete")
        if doc.page_count > limits.max_pages:
            raise ParseError(f"too large: {doc.page_count} pages, the limit is {limits.max_pages} (INGEST_MAX_PAGES)")
        pages: list[Page] = []
        try:
            for page in doc:
                if time.monotonic() - started > limits.max_seconds:
                    raise ParseError(
                        f"too slow: parsing took over {limits.max_seconds:g} s (INGEST_MAX_PARSE_SECONDS) "
                        f"and stopped at page {page.number + 1} of {doc.page_count}"
                    )
                pages.append(_read_page(page, ocr))
            toc = _outline(doc)
        except ParseError:
            raise
        except Exception as exc:
            raise ParseError(f"damaged {filetype.upper()} (page {len(pages) + 1}): {exc}") from exc
        metadata_title = _sane_title((doc.metadata or {}).get("title") or "")
    text, offsets, sections, cover_title = assemble(pages, toc, metadata_title)
    warnings += ocr.warnings(len(offsets), not text.strip())
    if offsets and not text.strip() and not ocr.skipped:
        warnings.append(f"{len(offsets)} page(s) but no text layer (scanned image?): nothing to search")
    title = title_heading(sections) or metadata_title or cover_title or stem
    return ParsedDocument(filetype, text, offsets, warnings, title, sections, ocr.pages)


def _outline(doc: Any) -> list[tuple[int, str, int]]:
    try:
        return [(level, title, page - 1) for level, title, page, *_ in doc.get_toc(simple=True)]
    except Exception:
        return []


def _sane_title(title: str) -> str:
    title = " ".join(title.split())
    if (
        not title
        or re.search(r"\.(docx?|pdf|tex|odt|rtf|indd|qxp)$", title, re.I)
        or title.lower() in {"untitled", "title"}
    ):
        return ""
    return title


def _read_page(page: Any, ocr: Ocr) -> Page:
    """Lines (with font size, weight, monospace) and ruled tables of one page; a page with images and
    no text is read by OCR when it can be."""
    import pymupdf

    flags = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
    content = page.get_text("dict", flags=flags)
    if not any(b["type"] == 0 for b in content["blocks"]) and page.get_images():
        if not ocr.ready:
            ocr.skipped.append(page.number)
            return page.rect.height, [], []
        zoom = min(ocr.limits.ocr_dpi / 72, math.sqrt(OCR_MAX_PIXELS / max(page.rect.width * page.rect.height, 1)))
        height, lines = ocr.read(
            lambda: page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csGRAY, alpha=False),
            page.number,
            1 / zoom,
        )
        return height, lines, []
    lines: list[_Line] = []
    for number, block in enumerate(content["blocks"]):
        if block["type"] != 0:
            continue
        for line in block["lines"]:
            spans = [s for s in line["spans"] if s["text"].strip()]
            if not spans:
                continue
            text = "".join(s["text"] for s in line["spans"]).translate(_LIGATURES).strip()
            bold = all(s["flags"] & 16 or "bold" in s["font"].lower() for s in spans)
            mono = all(s["flags"] & 8 or _is_mono(s["font"]) for s in spans)
            lines.append(
                _Line(page.number, number, tuple(line["bbox"]), text, max(s["size"] for s in spans), bold, mono)
            )
    tables = _ruled_tables(page, lines) if lines else []
    return page.rect.height, lines, tables


def _is_mono(font: str) -> bool:
    return re.search(r"mono|cour|consol|nimbusmon|cmtt|typewriter|menlo|sourcecode|firacode", font.lower()) is not None


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


def _mark_furniture(pages: list[Page]) -> None:
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


@dataclass
class _Run:
    """Consecutive lines of one block in one style (a heading, a paragraph), or a table."""

    lines: list[_Line]
    candidate: bool
    """Set in a heading style (larger or bold) and, once judged, taken as a heading."""
    page: int
    table: bool = False
    level: int = 0

    @property
    def text(self) -> str:
        return " ".join(line.text for line in self.lines)

    @property
    def style(self) -> tuple[float, bool]:
        return (_rounded(self.lines[0].size), self.lines[0].bold) if self.lines else (0.0, False)


def _rounded(size: float) -> float:
    return round(size * 2) / 2


def _page_items(lines: list[_Line], tables: list[_Table]) -> list[list[_Line] | _Table]:
    """The blocks (their body and heading lines) and tables of a page in reading order, top to bottom."""
    blocks: dict[int, list[_Line]] = {}
    for line in lines:
        if line.role in ("body", "heading"):
            blocks.setdefault(line.block, []).append(line)
    items: list[tuple[float, float, list[_Line] | _Table]] = [(b[0].bbox[1], b[0].bbox[0], b) for b in blocks.values()]
    items += [(table.bbox[1], table.bbox[0], table) for table in tables]
    items.sort(key=lambda item: (round(item[0]), item[1]))
    return [item[2] for item in items]


def _body_size(pages: list[Page]) -> tuple[float | None, int]:
    """The most used font size (by characters) and the number of characters with a size."""
    sizes: Counter[float] = Counter()
    for _, lines, _ in pages:
        for line in lines:
            if line.role == "body" and line.size:
                sizes[_rounded(line.size)] += len(line.text)
    return (sizes.most_common(1)[0][0] if sizes else None), sum(sizes.values())


def _styled(line: _Line, body: float) -> bool:
    """In a heading style: larger than the body text (and bold, or much larger), or bold at body size."""
    size = _rounded(line.size)
    if not size:
        return False
    larger = size >= body * _HEADING_RATIO and (line.bold or size >= body * 1.3)
    return larger or (line.bold and not line.mono and size >= body - 0.5)


def _runs(pages: list[Page], body: float) -> list[_Run]:
    runs: list[_Run] = []
    for number, (_, lines, tables) in enumerate(pages):
        for item in _page_items(lines, tables):
            if isinstance(item, _Table):
                runs.append(_Run([], False, number, table=True))
                continue
            for line in item:
                candidate = _styled(line, body)
                last = runs[-1] if runs and not runs[-1].table else None
                same = (
                    last is not None and last.candidate == candidate and last.style == (_rounded(line.size), line.bold)
                )
                if same and last.lines[-1].page == line.page and last.lines[-1].block == line.block:
                    last.lines.append(line)
                elif (
                    same
                    and candidate
                    and last.page == line.page
                    and 0 <= line.bbox[1] - last.lines[-1].bbox[3] < 0.6 * line.size
                ):
                    last.lines.append(line)  # one heading that the PDF wrote as two blocks
                else:
                    runs.append(_Run([line], candidate, number))
    return runs


def _numbering(text: str) -> int:
    """How deep a heading's number is: "3 Foo" 1, "3.2 Foo" 2, "A.1 Foo" 2; 0 without one."""
    match = _NUMBERED.match(text)
    return match.group(1).count(".") + 1 if match else 0


def _names(text: str) -> bool:
    """A list of people's names ("Ada Lovelace, Charles Babbage and Mary Somerville"), affiliation marks aside."""
    cleaned = re.sub(r"(?<=\w)[\d*†‡§¶]+(?=[\s,;]|$)", "", text)
    parts = [p.strip() for p in re.split(r",\s*(?:and\s+|&\s*)?|;|\s+and\s+|\s+&\s+", cleaned) if p.strip()]
    return len(parts) >= 2 and all(_NAME.match(part) for part in parts)


def _heading_text(text: str) -> bool:
    """Reads like a heading: short, not a sentence, a caption, a list of names, an address, a date or a
    table-of-contents entry."""
    words = text.split()
    if not words or len(words) > 20 or sum(ch.isalpha() for ch in text) < 2:
        return False
    if text.endswith((".", ",", ";", ":")) or (_BULLET.match(text) and not _NUMBERED.match(text)):
        return False
    if "@" in text or "://" in text or text.lower().startswith("www.") or _DATE.match(text) or _LABEL.match(text):
        return False
    if _CAPTION.match(text) or re.search(r"\.{4,}|(?:\. ){3,}|…{2,}", text):
        return False
    return not _names(text)


def _outranks(upper: _Run, lower: _Run) -> bool:
    """`upper` is a heading of a higher level than `lower`: a shorter number, else a larger or bolder style."""
    a, b = _numbering(upper.text), _numbering(lower.text)
    if a and b:
        return a < b
    return upper.style > lower.style


def _paragraph(run: _Run, body: float) -> bool:
    if run.table:
        return True
    if run.candidate or abs(run.style[0] - body) > 1:
        return False
    return len(run.text.split()) >= 8 or run.text.endswith((".", "!", "?"))


def _front_matter(runs: list[_Run], body: float, metadata_title: str) -> _Run | None:
    """On the first page, before its first paragraph (a cover page, a paper's title and author block),
    only the title (the metadata title, else the largest line) and the headings right above that
    paragraph stay candidates. Returns the title."""
    first = next((r.page for r in runs if not r.table), None)
    page = [r for r in runs if r.page == first and not r.table]
    end = next((i for i, r in enumerate(runs) if r.page == first and _paragraph(r, body)), None)
    front = runs[:end] if end is not None else page
    candidates = [r for r in front if r.candidate]
    if not candidates:
        return None
    wanted = _key(metadata_title)
    title = next((r for r in candidates if wanted and _key(r.text) == wanted), None)
    title = title or max(candidates, key=lambda r: r.style[0])
    keep = {id(title)}
    below: _Run | None = None
    for run in reversed(front if end is not None else []):
        if not run.candidate or (below is not None and not _outranks(run, below)):
            break
        keep.add(id(run))
        below = run
    for run in candidates:
        run.candidate = id(run) in keep
    return title


def _followed_by_text(runs: list[_Run], title: _Run | None) -> None:
    """A heading is followed by text, a table or a heading of a lower level; the title needs nothing."""
    below: _Run | None = None
    for run in reversed(runs):
        if run.candidate and run is not title and (below is None or (below.candidate and not _outranks(run, below))):
            run.candidate = False
        below = run


def _level(runs: list[_Run]) -> None:
    """Levels by style, largest first; numbered headings by the depth of their number, from the level
    of the first-level numbers."""
    styles = sorted({r.style for r in runs}, key=lambda s: (-s[0], not s[1]))
    by_style = {style: min(i + 1, 6) for i, style in enumerate(styles)}
    for run in runs:
        run.level = by_style[run.style]
    numbered = [(run, _numbering(run.text)) for run in runs if _numbering(run.text)]
    if numbered:
        tops = [run.level for run, depth in numbered if depth == 1]
        base = min(tops) - 1 if tops else max(0, min(run.level - depth for run, depth in numbered))
        for run, depth in numbered:
            run.level = min(base + depth, 6)


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).lower())


def _outline_match(lines: list[_Line], i: int, keys: tuple[str, str]) -> list[_Line]:
    """The line at `i` (and the next lines of its block, for a heading set on several lines) whose
    text is the outline entry's, its number aside."""
    first = lines[i]
    if first.role != "body":
        return []
    text = _key(first.text)
    if not text:
        return []
    if text in keys or _key(_NUMBERED.sub("", first.text, count=1)) in keys:
        return [first]
    span = [first]
    for line in lines[i + 1 :]:
        if line.block != first.block or line.page != first.page or line.role != "body":
            break
        span.append(line)
        text += _key(line.text)
        if text in keys or _key(_NUMBERED.sub("", " ".join(ln.text for ln in span), count=1)) in keys:
            return span
        if not any(key.startswith(text) for key in keys):
            break
    return []


def _outline_headings(pages: list[Page], toc: list[tuple[int, str, int]], body: float) -> list[_Line]:
    """Outline entries matched to their lines (on their page, or the next), in order, with the outline's
    levels; none when fewer than half of the entries are found (an outline that is not the headings)."""
    entries = [(level, title, page) for level, title, page in toc if title.strip()]
    if not entries:
        return []
    top = min(level for level, _, _ in entries)
    ordered: dict[int, list[_Line]] = {}
    cursor: dict[int, int] = {}
    marked: list[_Line] = []
    found = 0
    for level, title, number in entries:
        keys = (_key(title), _key(_NUMBERED.sub("", title.strip(), count=1)))
        for page in (number, number + 1):
            if not 0 <= page < len(pages):
                continue
            if page not in ordered:
                _, lines, tables = pages[page]
                ordered[page] = [ln for item in _page_items(lines, tables) if isinstance(item, list) for ln in item]
            lines = ordered[page]
            hits = [
                (i, span) for i in range(cursor.get(page, 0), len(lines)) if (span := _outline_match(lines, i, keys))
            ]
            if not hits:
                continue
            styled = [(i, span) for i, span in hits if span[0].bold or (body and span[0].size >= body * _HEADING_RATIO)]
            i, span = (styled or hits)[0]
            for line in span:
                line.role, line.level = "heading", min(level - top + 1, 6)
            marked += span
            cursor[page] = i + len(span)
            found += 1
            break
    if found < max(1, math.ceil(len(entries) / 2)):
        for line in marked:
            line.role, line.level = "body", 0
        return []
    return marked


def _mark_headings(pages: list[Page], toc: list[tuple[int, str, int]], metadata_title: str) -> str:
    """Marks the heading lines with their levels (from the outline, else from the type); returns the
    document's title as its first page shows it ("" if none stands out)."""
    body, total = _body_size(pages)
    outlined = _outline_headings(pages, toc, body or 0.0)
    if body is None:
        return ""
    runs = _runs(pages, body)
    for run in runs:
        if run.candidate and not _heading_text(run.text):
            run.candidate = False
    styles: Counter[tuple[float, bool]] = Counter()
    for run in runs:
        if run.candidate:
            styles[run.style] += len(run.text)
    # a style that makes up a quarter of the text is body text, not headings
    for run in runs:
        if run.candidate and styles[run.style] > 0.25 * total:
            run.candidate = False
    title = _front_matter(runs, body, metadata_title)
    _followed_by_text(runs, title)
    headings = [run for run in runs if run.candidate and all(line.role == "body" for line in run.lines)]
    if outlined:
        # below the outline's deepest style: the levels the outline leaves out
        lowest = (
            min((_rounded(ln.size), ln.bold) for ln in outlined if ln.size) if any(ln.size for ln in outlined) else None
        )
        headings = [run for run in headings if lowest is not None and run.style < lowest]
        styles_below = sorted({run.style for run in headings}, reverse=True)
        deepest = max(line.level for line in outlined)
        for run in headings:
            run.level = min(deepest + 1 + styles_below.index(run.style), 6)
    else:
        _level(headings)
    for run in headings:
        for line in run.lines:
            line.role, line.level = "heading", run.level
    return title.text if title else ""


def _hyphenated_words(pages: list[Page]) -> tuple[set[str], set[str]]:
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


def assemble(
    pages: list[Page], toc: list[tuple[int, str, int]] | None = None, metadata_title: str = ""
) -> tuple[str, list[int], list[Section], str]:
    """The document's text (headings as `#` lines, tables as Markdown), page offsets, sections, and the
    title its first page shows ("" if none stands out)."""
    _mark_furniture(pages)
    cover_title = _mark_headings(pages, toc or [], metadata_title)
    hyphenated, plain = _hyphenated_words(pages)
    parts: list[str] = []
    offsets: list[int] = []
    sections: list[Section] = []
    position = 0
    for _, lines, tables in pages:
        offsets.append(position)
        paragraphs: list[str] = []
        page_sections: list[tuple[int, Section]] = []
        for item in _page_items(lines, tables):
            if isinstance(item, _Table):
                paragraphs.append(item.markdown)
                continue
            run: list[_Line] = []
            for line in [*item, None]:
                if run and (line is None or line.role != run[-1].role or line.level != run[-1].level):
                    if run[0].role == "heading":
                        title = " ".join(ln.text for ln in run)
                        page_sections.append((len(paragraphs), Section(0, run[0].level, title)))
                        paragraphs.append("#" * run[0].level + " " + title)
                    elif all(ln.mono for ln in run):
                        # code: fenced, so that a "# comment" line is no heading
                        paragraphs.append("```\n" + _join_lines(run, hyphenated, plain) + "\n```")
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
    return PAGE_SEPARATOR.join(parts), offsets, sections, cover_title


def parse(key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    path = PurePosixPath(key)
    return _parse_with_pymupdf(path.suffix.lower().lstrip("."), data, limits, path.stem)
