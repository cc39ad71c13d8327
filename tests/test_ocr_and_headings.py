"""OCR of scans and images (rotated ones too), the `auto`/`on`/`off` OCR modes, and PDF headings from the
outline or from the type. Every file is made here (tests/scan_corpus.py); Tesseract runs for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pymupdf
import pytest

from ingestion_assets.parsing import ParseError, ParseLimits, markdown_sections, parse_bytes
from resources.document_source import DocumentSource
from resources.parser_config import ParserConfig
from resources.settings import IngestSettings
from tests import scan_corpus as corpus
from tests.conftest import REPO, materialize

OCR = ParseLimits(ocr="auto")
READ = "1 page(s) read by OCR: check the text for recognition errors"


def _needs_tesseract() -> None:
    if shutil.which("tesseract") is None:
        if os.environ.get("INGEST_REQUIRE_TESSERACT") == "1":
            pytest.fail("INGEST_REQUIRE_TESSERACT=1 but tesseract is not installed")
        pytest.skip("the tesseract program is not installed (Debian: tesseract-ocr)")


@pytest.fixture
def tesseract() -> None:
    _needs_tesseract()


# OCR of scanned PDF pages


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_a_scanned_page_is_read_upright_whatever_its_rotation(tesseract, rotate):
    doc = parse_bytes("harbour.pdf", corpus.scanned_pdf((rotate,)), OCR)

    assert doc.text == corpus.SCAN_TEXT
    assert doc.ocr_pages == 1 and doc.page_offsets == [0]
    assert doc.warnings == [READ + (f"; turned upright: page 1 by {rotate}°" if rotate else "")]


@pytest.mark.parametrize(
    ("rotate", "page_rotate", "turned"),
    [(0, 90, 0), (0, 270, 0), (90, 90, 90), (0, 180, 0)],
    ids=["rotate-90-shows-upright", "rotate-270-shows-upright", "rotate-90-shows-sideways", "rotate-180-upright"],
)
def test_page_rotate_is_honoured(tesseract, rotate, page_rotate, turned):
    """/Rotate turns the page as shown; OCR reads what is shown and turns it upright when it is not."""
    data = corpus.scanned_pdf((rotate,), page_rotate=page_rotate)
    assert pymupdf.open(stream=data, filetype="pdf")[0].rotation == page_rotate

    doc = parse_bytes("harbour.pdf", data, OCR)

    assert doc.text == corpus.SCAN_TEXT
    assert doc.warnings == [READ + (f"; turned upright: page 1 by {turned}°" if turned else "")]


def test_pages_of_one_scan_are_turned_one_by_one(tesseract):
    doc = parse_bytes("harbour.pdf", corpus.scanned_pdf((0, 180, 90)), OCR)

    assert doc.text == "\n\n".join([corpus.SCAN_TEXT] * 3)
    step = len(corpus.SCAN_TEXT) + 2
    assert doc.page_offsets == [0, step, 2 * step]
    assert doc.ocr_pages == 3
    assert doc.warnings == [
        "3 page(s) read by OCR: check the text for recognition errors; turned upright: page 2 by 180°, page 3 by 90°"
    ]


def test_a_page_with_a_text_layer_is_not_ocred(tesseract):
    source = pymupdf.open()
    source.new_page(width=300, height=200).insert_text((20, 50), "Typed text about tides.", fontsize=11)
    doc = parse_bytes("typed.pdf", source.tobytes(), ParseLimits(ocr="on"))
    assert doc.text == "Typed text about tides." and doc.ocr_pages == 0 and doc.warnings == []


# Images


@pytest.mark.parametrize(("name", "kind"), [("notice.png", "png"), ("notice.jpg", "jpeg"), ("notice.tiff", "tiff")])
def test_an_image_of_each_type_is_read(tesseract, name, kind):
    doc = parse_bytes(name, corpus.image(kind), OCR)

    assert doc.format == kind
    assert doc.text == corpus.SCAN_TEXT
    assert doc.page_offsets == [0] and doc.ocr_pages == 1
    assert doc.title == "notice" and doc.sections == []
    assert doc.warnings == [READ]


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_a_rotated_photo_is_turned_upright(tesseract, rotate):
    doc = parse_bytes("photo.jpeg", corpus.image("jpeg", rotate), OCR)
    assert doc.text == corpus.SCAN_TEXT
    assert doc.warnings == [f"{READ}; turned upright: page 1 by {rotate}°"]


def test_each_page_of_a_multipage_tiff_is_a_page(tesseract):
    data, texts = corpus.multipage_tiff()

    doc = parse_bytes("notices.tif", data, OCR)

    assert doc.text == "\n\n".join(texts)
    assert doc.page_offsets == [0, len(texts[0]) + 2, len(texts[0]) + len(texts[1]) + 4]
    assert doc.ocr_pages == 3
    assert doc.warnings == [
        "3 page(s) read by OCR: check the text for recognition errors; turned upright: page 2 by 180°"
    ]


def test_a_jpeg_named_png_is_read_as_a_jpeg(tesseract):
    doc = parse_bytes("misnamed.png", corpus.image("jpeg"), OCR)
    assert doc.format == "jpeg" and doc.text == corpus.SCAN_TEXT


def test_hostile_images_fail_with_a_reason():
    png = corpus.image("png")
    cases = {
        "empty.png": (b"", "empty file (0 bytes)"),
        "page.png": (b"<html><body>hi</body></html>", "not a PNG image: looks like HTML"),
        "doc.jpg": (b"%PDF-1.7\n", "truncated PDF"),  # read as the PDF it is, and that one is cut short
        "cut.png": (png[: len(png) // 2], "corrupt PNG image: "),
        "cut.tiff": (corpus.image("tiff")[:2000], "corrupt TIFF image: "),
        "bomb.png": (
            corpus.pixel_bomb_png(),
            "too large: an image of 12000×12000 pixels (144 megapixels), the limit is 100 megapixels",
        ),
    }
    for name, (data, reason) in cases.items():
        with pytest.raises(ParseError) as failure:
            parse_bytes(name, data, OCR)
        assert str(failure.value).startswith(reason), (name, str(failure.value))


def test_a_multipage_tiff_obeys_the_page_and_time_limits(tesseract):
    data, _ = corpus.multipage_tiff()
    with pytest.raises(ParseError, match=r"^too large: 3 pages, the limit is 2 \(INGEST_MAX_PAGES\)$"):
        parse_bytes("notices.tif", data, ParseLimits(ocr="auto", max_pages=2))
    with pytest.raises(ParseError, match=r"^too slow: parsing took over 0.05 s \(INGEST_MAX_PARSE_SECONDS\)"):
        parse_bytes("notices.tif", data, ParseLimits(ocr="auto", max_seconds=0.05))


# OCR modes


def test_ocr_off_leaves_scans_and_images_unread_and_says_so():
    off = ParseLimits(ocr="off")
    scan = parse_bytes("harbour.pdf", corpus.scanned_pdf((0, 0)), off)
    assert scan.text == "\n\n" and scan.ocr_pages == 0
    assert scan.warnings == ["2 page(s) but no text layer (scanned image?), not read: OCR is off (INGEST_OCR=off)"]

    image = parse_bytes("notice.png", corpus.image("png"), off)
    assert image.text == "" and image.page_offsets == [0] and image.ocr_pages == 0
    assert image.warnings == ["image not read, nothing to search: OCR is off (INGEST_OCR=off)"]


def test_a_scanned_page_among_typed_ones_is_named_when_not_read():
    doc = pymupdf.open()
    doc.new_page(width=300, height=200).insert_text((20, 50), "Typed page about tides.", fontsize=11)
    doc.insert_pdf(pymupdf.open(stream=corpus.scanned_pdf((0,)), filetype="pdf"))
    parsed = parse_bytes("mixed.pdf", doc.tobytes(), ParseLimits(ocr="off"))
    assert parsed.text == "Typed page about tides.\n\n"
    assert parsed.warnings == ["page 2 has no text layer (scanned image?), not read: OCR is off (INGEST_OCR=off)"]


def _parse_without_tesseract(tmp_path: Path, mode: str, files: dict[str, bytes]) -> dict[str, dict]:
    """Parse `files` in a Python whose PATH has no tesseract."""
    tmp_path.mkdir()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from ingestion_assets.parsing import ParseLimits, parse_bytes\n"
        "out = {}\n"
        f"for name in {sorted(files)!r}:\n"
        f"    doc = parse_bytes(name, Path(sys.argv[1], name).read_bytes(), ParseLimits(ocr={mode!r}))\n"
        "    out[name] = {'text': doc.text, 'warnings': doc.warnings, 'ocr_pages': doc.ocr_pages}\n"
        "print(json.dumps(out))\n"
    )
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PATH": str(empty_path)},
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def test_auto_and_on_without_tesseract_warn_with_what_to_install(tmp_path):
    typed = pymupdf.open()
    typed.new_page(width=300, height=200).insert_text((20, 50), "Typed page about tides.", fontsize=11)
    files = {"scan.pdf": corpus.scanned_pdf((0,)), "typed.pdf": typed.tobytes(), "notice.png": corpus.image("png")}
    missing = "Tesseract is not installed (install the tesseract-ocr package to read scans)"

    auto = _parse_without_tesseract(tmp_path / "auto", "auto", files)
    assert auto["scan.pdf"] == {
        "text": "",
        "warnings": [f"1 page(s) but no text layer (scanned image?), not read: {missing}"],
        "ocr_pages": 0,
    }
    assert auto["typed.pdf"]["warnings"] == []
    assert auto["notice.png"]["warnings"] == [f"image not read, nothing to search: {missing}"]

    on = _parse_without_tesseract(tmp_path / "on", "on", files)
    on_warning = (
        "OCR is on but tesseract is not installed (install the tesseract-ocr package to read scans): "
        "scanned pages stay empty"
    )
    assert on["typed.pdf"] == {"text": "Typed page about tides.", "warnings": [on_warning], "ocr_pages": 0}
    assert on["scan.pdf"]["warnings"] == [
        on_warning,
        f"1 page(s) but no text layer (scanned image?), not read: {missing}",
    ]
    assert on["notice.png"]["warnings"] == [f"image not read, nothing to search: {missing}"]


def test_a_missing_language_is_named_with_its_package(tesseract):
    doc = parse_bytes("harbour.pdf", corpus.scanned_pdf((0,)), ParseLimits(ocr="on", ocr_language="xyz+eng"))
    assert doc.text == ""
    assert doc.warnings == [
        "OCR is on but tesseract has no language data for xyz (install tesseract-ocr-xyz): scanned pages stay empty",
        "1 page(s) but no text layer (scanned image?), not read: "
        "Tesseract has no language data for xyz (install tesseract-ocr-xyz)",
    ]


def test_ocr_modes_are_validated_and_old_booleans_still_work():
    assert ParseLimits().ocr == "off"
    assert ParseLimits(ocr=True).ocr == "on" and ParseLimits(ocr=False).ocr == "off"
    assert ParseLimits(ocr=" AUTO ").ocr == "auto"
    with pytest.raises(ValueError, match="OCR mode must be auto, on or off, not 'sometimes'"):
        ParseLimits(ocr="sometimes")

    assert ParserConfig().ocr == "auto"
    assert ParserConfig(ocr=True).ocr == "on" and ParserConfig(ocr=False).ocr == "off"
    assert ParserConfig(ocr="yes").ocr == "on" and ParserConfig(ocr="0").ocr == "off"
    with pytest.raises(ValueError, match=r"ocr \(INGEST_OCR\) must be one of auto, on, off \(or true/false\)"):
        ParserConfig(ocr="sometimes")
    assert ParseLimits.of(ParserConfig(ocr=True)).ocr == "on"

    assert IngestSettings.from_env({}).parser_config().ocr == "auto"
    assert IngestSettings.from_env({"INGEST_OCR": "off"}).parser_config().ocr == "off"
    assert IngestSettings.from_env({"INGEST_OCR": "true"}).parser_config().ocr == "on"
    with pytest.raises(ValueError, match="not 'maybe'"):
        IngestSettings.from_env({"INGEST_OCR": "maybe"}).parser_config()


def test_legacy_ocr_settings_in_run_config_still_apply(tmp_path):
    """The mode on the `parser` resource, and run config written when `ocr` was a bool on `source`."""
    seen = []

    @dg.asset
    def limits(parser: ParserConfig, source: DocumentSource) -> None:
        seen.append(ParseLimits.of(parser.resolved(source)).ocr)

    resources = {"parser": ParserConfig(), "source": DocumentSource(root_dir=str(tmp_path), suffixes=[".pdf"])}
    for config, expected in [
        ({}, "auto"),
        ({"parser": {"config": {"ocr": "true"}}}, "on"),
        ({"parser": {"config": {"ocr": "off"}}}, "off"),
        ({"parser": {"config": {"ocr": "on"}}}, "on"),
        ({"source": {"config": {"root_dir": str(tmp_path), "ocr": True}}}, "on"),
        ({"source": {"config": {"root_dir": str(tmp_path), "ocr": False}}}, "off"),
    ]:
        assert dg.materialize([limits], resources=resources, run_config={"resources": config}).success
        assert seen[-1] == expected, config


# Headings


@pytest.mark.parametrize("case", corpus.heading_cases(), ids=lambda case: case.name)
def test_headings_are_exactly_those_of_the_document(case):
    doc = parse_bytes(f"{case.name}.pdf", case.pdf)

    assert [(s.level, s.title) for s in doc.sections] == list(case.headings)
    assert [(s.level, s.title) for s in markdown_sections(doc.text)] == list(case.headings)
    assert bool(pymupdf.open(stream=case.pdf, filetype="pdf").get_toc()) == case.outline


def test_the_cover_gives_the_title_when_headings_do_not():
    assert parse_bytes("manual.pdf", corpus.manual_with_outline().pdf).title == "Tidewatch Gauge"
    assert parse_bytes("paper.pdf", corpus.paper().pdf).title == "Sediment Transport in Braided Rivers"
    report = parse_bytes("report.pdf", corpus.report().pdf)
    assert report.title == "Annual Safety Review"
    # the cover's other lines stay as text
    assert "NORTHWIND UTILITIES\n\nAnnual Safety Review" not in report.text
    assert "Fiscal year 2023" in report.text and "Confidential" in report.text


def test_an_outline_that_is_not_the_headings_is_ignored():
    paper = corpus.paper()
    doc = pymupdf.open(stream=paper.pdf, filetype="pdf")
    doc.set_toc([[1, "Cover", 1], [1, "Appendix on sediment chemistry", 2], [1, "Index", 2]])
    parsed = parse_bytes("paper.pdf", doc.tobytes())
    assert [(s.level, s.title) for s in parsed.sections] == list(paper.headings)


def test_code_lines_starting_with_a_hash_are_fenced_not_headings():
    page = pymupdf.open()
    p = page.new_page(width=420, height=300)
    p.insert_text((40, 60), "Write the configuration file like this one below.", fontsize=10)
    p.insert_text((40, 90), "# retention in days", fontsize=9, fontname="cour")
    p.insert_text((40, 101), "keep = 30", fontsize=9, fontname="cour")
    doc = parse_bytes("config.pdf", page.tobytes())
    assert doc.sections == []
    assert doc.text == ("Write the configuration file like this one below.\n\n```\n# retention in days\nkeep = 30\n```")


# Through the pipeline


def test_an_image_through_the_pipeline(instance, store, inbox, monkeypatch):
    _needs_tesseract()
    from ingestion_assets.search import search
    from resources.embedding_model import EmbeddingModel

    monkeypatch.setenv("INGEST_OCR", "auto")
    (inbox / "pilotage.png").write_bytes(corpus.image("png", rotate=90))

    assert materialize(instance, ["pilotage.png"]).success

    row = store.read("documents", ["doc_id", "format", "text", "ocr_pages", "warnings"]).to_pylist()[0]
    assert row["format"] == "png" and row["ocr_pages"] == 1 and row["text"] == corpus.SCAN_TEXT
    assert row["warnings"] == [f"{READ}; turned upright: page 1 by 90°"]
    chunks = store.read("chunks", ["doc_id", "text", "section"]).to_pylist()
    assert [(c["doc_id"], c["text"]) for c in chunks] == [("pilotage.png", corpus.SCAN_TEXT)]
    hits = search(store, EmbeddingModel(), "where do tugs wait for the pilot", k=3, hybrid=True)
    assert hits[0].doc_id == "pilotage.png" and "inside the breakwater" in hits[0].text
