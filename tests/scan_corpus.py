"""Scans, images and PDFs with known headings, typeset at test time with PyMuPDF (and Pillow for TIFF)."""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

import pymupdf

W, H = 420, 595
SENTENCES = (
    "Harbour pilots board every ship at the outer buoy.",
    "Tugs wait inside the breakwater until the pilot calls.",
    "Night arrivals need two tugs and a clear radio channel.",
)
"""The text of every scan: what OCR must give back, word for word."""
SCAN_TEXT = "Harbour pilotage\n\n" + " ".join(SENTENCES)


def _text_page(doc: pymupdf.Document, width: float = W, height: float = H) -> pymupdf.Page:
    page = doc.new_page(width=width, height=height)
    page.insert_text((40, 70), "Harbour pilotage", fontsize=18, fontname="hebo")
    for i, sentence in enumerate(SENTENCES):
        page.insert_text((40, 110 + 20 * i), sentence, fontsize=12)
    return page


def scan_pixmap(rotate: int = 0, dpi: int = 300) -> pymupdf.Pixmap:
    """A page of `SENTENCES` rendered to grey pixels, turned clockwise by `rotate` degrees."""
    source = pymupdf.open()
    page = _text_page(source)
    return page.get_pixmap(matrix=pymupdf.Matrix(dpi / 72, dpi / 72).prerotate(rotate), colorspace=pymupdf.csGRAY)


def scanned_pdf(rotations: tuple[int, ...] = (0,), page_rotate: int = 0) -> bytes:
    """One page per entry of `rotations`: only an image of the text (pixels turned by that angle), no text
    layer. `page_rotate` sets /Rotate on every page and turns the pixels back, so the page shows upright
    as a scanner that records its orientation in /Rotate leaves it."""
    doc = pymupdf.open()
    for rotate in rotations:
        pixels = scan_pixmap((rotate - page_rotate) % 360)
        width, height = (W, H) if (rotate - page_rotate) % 180 == 0 else (H, W)
        page = doc.new_page(width=width, height=height)
        page.insert_image(page.rect, stream=pixels.tobytes("png"))
        if page_rotate:
            page.set_rotation(page_rotate)
    return doc.tobytes(garbage=3, deflate=True)


def dense_scanned_pdf(pages: int = 2) -> bytes:
    """Full A4 pages of 11-point text as 300 dpi scans without a text layer (for timing OCR)."""
    doc = pymupdf.open()
    for _ in range(pages):
        source = pymupdf.open()
        page = source.new_page(width=595, height=842)
        for row in range(46):
            page.insert_text(
                (50, 70 + 15 * row), " ".join(SENTENCES[(row + i) % 3] for i in range(2))[:95], fontsize=11
            )
        pixels = page.get_pixmap(dpi=300, colorspace=pymupdf.csGRAY)
        doc.new_page(width=595, height=842).insert_image(pymupdf.Rect(0, 0, 595, 842), stream=pixels.tobytes("png"))
    return doc.tobytes(garbage=3, deflate=True)


def image(kind: str, rotate: int = 0) -> bytes:
    """`SENTENCES` as a PNG, JPEG or (single-page) TIFF image."""
    pixels = scan_pixmap(rotate)
    if kind == "png":
        return pixels.tobytes("png")
    if kind == "jpeg":
        return pixels.tobytes("jpeg", jpg_quality=85)
    return tiff([pixels])


def tiff(pages: list[pymupdf.Pixmap]) -> bytes:
    from PIL import Image

    frames = [Image.frombytes("L", (p.width, p.height), p.samples) for p in pages]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:], compression="tiff_lzw", dpi=(300, 300))
    return buffer.getvalue()


def multipage_tiff() -> tuple[bytes, list[str]]:
    """Three TIFF pages, each a short notice (the second upside down), and the text of each."""
    texts = [
        "Dock four is closed for repairs.",
        "Cranes stop when the wind exceeds forty knots.",
        "Report oil spills at once.",
    ]
    pages = []
    for number, text in enumerate(texts):
        doc = pymupdf.open()
        page = doc.new_page(width=W, height=200)
        page.insert_text((30, 80), text, fontsize=13)
        rotate = 180 if number == 1 else 0
        pages.append(page.get_pixmap(matrix=pymupdf.Matrix(3, 3).prerotate(rotate), colorspace=pymupdf.csGRAY))
    return tiff(pages), texts


def pixel_bomb_png(side: int = 12_000) -> bytes:
    """A white PNG of `side`² pixels: a few hundred kilobytes that would decode to `side`² bytes."""
    pix = pymupdf.Pixmap(pymupdf.csGRAY, pymupdf.IRect(0, 0, side, side), False)
    pix.clear_with(255)
    return pix.tobytes("png")


class Typesetter:
    """Pages of lines in chosen fonts and sizes, with paragraphs wrapped, and an optional running header."""

    def __init__(self, header: str = "") -> None:
        self.doc = pymupdf.open()
        self.header = header
        self.page: pymupdf.Page | None = None
        self.y = 0.0
        self.new_page()

    def new_page(self) -> None:
        self.page = self.doc.new_page(width=W, height=H)
        if self.header:
            self.page.insert_text((40, 30), self.header, fontsize=7.5)
        self.y = 60.0

    def line(self, text: str, size: float = 10, font: str = "helv", gap: float = 0) -> None:
        if self.y + gap + size * 1.4 > H - 50:
            self.new_page()
        self.y += gap + size * 1.35
        self.page.insert_text((40, self.y), text, fontsize=size, fontname=font)

    def heading(self, text: str, size: float, font: str = "hebo") -> None:
        self.line(text, size, font, gap=size * 0.8)

    def paragraph(self, text: str, size: float = 10, font: str = "helv") -> None:
        self.y += size * 0.7
        for line in textwrap.wrap(text, 68):
            self.line(line, size, font)

    def pdf(self, toc: list[list] | None = None, title: str = "") -> bytes:
        if toc:
            self.doc.set_toc(toc)
        self.doc.set_metadata({"title": title} if title else {})
        return self.doc.tobytes(garbage=3, deflate=True)


BODY = (
    "The gauges on the upper reach were read twice a day during the whole season, and the readings were "
    "checked against the rating curve before they were used in any of the calculations that follow."
)


@dataclass(frozen=True)
class HeadingCase:
    name: str
    pdf: bytes
    headings: tuple[tuple[int, str], ...]
    """(level, title) of every heading, in order: what a reader of the document would list."""
    outline: bool


def paper() -> HeadingCase:
    """A paper: title, authors, affiliation and e-mail, an abstract, numbered sections three deep, a bold
    figure caption and a bold sentence in the text; no outline."""
    t = Typesetter()
    t.line("Sediment Transport in Braided Rivers", 20, "hebo")
    t.line("Maria Keller, Tom Baker and Ines Duarte", 14, gap=8)
    t.line("Institute of Hydraulic Engineering, Delft", 11)
    t.line("m.keller@example.org", 10)
    t.heading("Abstract", 14)
    t.paragraph(BODY)
    t.heading("1 Introduction", 14)
    t.paragraph(BODY)
    t.heading("2 Methods", 14)
    t.heading("2.1 Field sampling", 12)
    t.paragraph(BODY)
    t.line("Samples were dried at 105 degrees for a full day.", 10, "hebo", gap=6)
    t.paragraph(BODY)
    t.heading("2.2 Laboratory analysis", 12)
    t.paragraph(BODY)
    t.line("Figure 1: Grain size at the three sites", 10, "hebo", gap=6)
    t.new_page()
    t.heading("3 Results", 14)
    t.heading("3.1 Grain size", 12)
    t.paragraph(BODY)
    t.heading("3.1.1 Coarse fraction", 11)
    t.paragraph(BODY)
    t.heading("4 Conclusions", 14)
    t.paragraph(BODY)
    t.heading("References", 14)
    t.paragraph("Keller, M. (2021). Gravel bars of the upper Rhine. Journal of River Studies 12, 4-19.")
    return HeadingCase(
        "paper",
        t.pdf(),
        (
            (1, "Sediment Transport in Braided Rivers"),
            (2, "Abstract"),
            (2, "1 Introduction"),
            (2, "2 Methods"),
            (3, "2.1 Field sampling"),
            (3, "2.2 Laboratory analysis"),
            (2, "3 Results"),
            (3, "3.1 Grain size"),
            (4, "3.1.1 Coarse fraction"),
            (2, "4 Conclusions"),
            (2, "References"),
        ),
        False,
    )


def report() -> HeadingCase:
    """A report with a cover page (company, title, year, author line, classification, version and date),
    a running header, a large pull quote and a heading at the foot of a page; no outline."""
    t = Typesetter()
    t.line("NORTHWIND UTILITIES", 16, "hebo", gap=40)
    t.line("Annual Safety Review", 28, "hebo", gap=30)
    t.line("Fiscal year 2023", 16, gap=10)
    t.line("Prepared by the Safety Office", 14, gap=40)
    t.line("Confidential", 14, "hebo", gap=10)
    t.line("Version 2.1, 12 February 2024", 12, gap=10)
    t.header = "Northwind Utilities · Annual Safety Review 2023"
    t.new_page()
    t.heading("Summary", 18)
    t.paragraph(BODY)
    t.heading("Incidents", 18)
    t.heading("Slips and falls", 13)
    t.paragraph(BODY)
    t.line("Every incident was reported within a day.", 14, "heit", gap=10)
    t.paragraph(BODY)
    t.paragraph(BODY)
    t.paragraph(BODY)
    t.heading("Electrical", 13)
    t.new_page()
    t.paragraph(BODY)
    t.heading("Outlook", 18)
    t.paragraph(BODY)
    return HeadingCase(
        "report",
        t.pdf(),
        (
            (1, "Annual Safety Review"),
            (2, "Summary"),
            (2, "Incidents"),
            (3, "Slips and falls"),
            (3, "Electrical"),
            (2, "Outlook"),
        ),
        False,
    )


def memo() -> HeadingCase:
    """A one-page memo: a title, bold "To:/From:/Date:" labels, a bold closing line; no outline."""
    t = Typesetter()
    t.line("Memorandum", 16, "hebo")
    t.line("To: All harbour staff", 10, "hebo", gap=8)
    t.line("From: Facilities", 10, "hebo")
    t.line("Date: 3 May 2024", 10, "hebo")
    t.paragraph(BODY)
    t.heading("Parking", 12)
    t.paragraph(BODY)
    t.line("Thank you for your patience.", 10, "hebo", gap=8)
    return HeadingCase("memo", t.pdf(), ((1, "Memorandum"), (2, "Parking")), False)


def manual_with_outline() -> HeadingCase:
    """A manual whose outline (bookmarks) lists its chapters and sections without their numbers, on a
    cover page with the product name and an author; one heading wraps onto a second line; the
    sub-sections below the outline's depth are in a smaller bold type."""
    t = Typesetter()
    t.line("Tidewatch Gauge", 26, "hebo", gap=60)
    t.line("Installation and operation manual", 16, gap=10)
    t.line("Jane Doe", 14, gap=30)
    toc: list[list] = []

    def chapter(level: int, number: str, title: str, size: float) -> None:
        t.heading(f"{number} {title}", size)
        toc.append([level, title, t.doc.page_count])

    t.new_page()
    chapter(1, "1", "Introduction", 16)
    t.paragraph(BODY)
    chapter(1, "2", "Installation", 16)
    chapter(2, "2.1", "Requirements", 13)
    t.paragraph(BODY)
    t.line("Note: mount the gauge above the highest tide.", 10, "hebo", gap=6)
    chapter(2, "2.2", "Steps", 13)
    t.paragraph(BODY)
    t.heading("2.2.1 Mounting bracket", 11)
    t.paragraph(BODY)
    t.new_page()
    t.heading("3 Connecting the gauge to a remote logging", 16)
    t.line("station over the radio link", 16, "hebo")
    toc.append([1, "Connecting the gauge to a remote logging station over the radio link", t.doc.page_count])
    t.paragraph(BODY)
    chapter(2, "3.1", "Antenna", 13)
    t.paragraph(BODY)
    t.heading("3.1.1 Cable length", 11)
    t.paragraph(BODY)
    return HeadingCase(
        "manual-outline",
        t.pdf(toc, title="Tidewatch Gauge"),
        (
            (1, "1 Introduction"),
            (1, "2 Installation"),
            (2, "2.1 Requirements"),
            (2, "2.2 Steps"),
            (3, "2.2.1 Mounting bracket"),
            (1, "3 Connecting the gauge to a remote logging station over the radio link"),
            (2, "3.1 Antenna"),
            (3, "3.1.1 Cable length"),
        ),
        True,
    )


def thesis_with_outline() -> HeadingCase:
    """A thesis whose outline includes the title page and the front matter, with sizes that do not
    follow the levels (the outline decides), and the same word in the table of contents page."""
    t = Typesetter()
    t.line("Tidal Mixing in Narrow Estuaries", 22, "hebo", gap=60)
    t.line("Ines Duarte", 14, gap=20)
    toc: list[list] = [[1, "Tidal Mixing in Narrow Estuaries", 1]]
    t.new_page()
    t.heading("Contents", 14)
    for entry in ("Acknowledgements 3", "Background 3", "Field sites 4"):
        t.line(entry, 10)
    t.new_page()
    t.heading("Acknowledgements", 14)
    toc.append([2, "Acknowledgements", t.doc.page_count])
    t.paragraph(BODY)
    t.heading("Background", 14)
    toc.append([2, "Background", t.doc.page_count])
    t.paragraph(BODY)
    t.new_page()
    t.heading("Field sites", 14)
    toc.append([2, "Field sites", t.doc.page_count])
    t.paragraph(BODY)
    t.heading("The upper estuary", 14)
    toc.append([3, "The upper estuary", t.doc.page_count])
    t.paragraph(BODY)
    return HeadingCase(
        "thesis-outline",
        t.pdf(toc),
        (
            (1, "Tidal Mixing in Narrow Estuaries"),
            (2, "Acknowledgements"),
            (2, "Background"),
            (2, "Field sites"),
            (3, "The upper estuary"),
        ),
        True,
    )


def heading_cases() -> list[HeadingCase]:
    return [paper(), report(), memo(), manual_with_outline(), thesis_with_outline()]
