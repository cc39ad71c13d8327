"""Word and PowerPoint parsing: structure as Markdown, slides as pages, limits, hostile files, and the whole pipeline."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ingestion_assets.parsing import PAGE_SEPARATOR, ParseError, ParseLimits, markdown_sections, parse_bytes
from ingestion_assets.parsing.office_text import escape_line, markdown_table
from tests import office_corpus as corpus
from tests.conftest import materialize

DOCM = "application/vnd.ms-word.document.macroEnabled.main+xml"
DOTX = "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml"
DOTM = "application/vnd.ms-word.template.macroEnabledTemplate.main+xml"
PPTM = "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml"
PPSX = "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml"
POTX = "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml"


def _sections(text: str) -> list[tuple[int, str]]:
    return [(s.level, s.title) for s in markdown_sections(text)]


def _without_core_properties(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        rels = archive.read("_rels/.rels").decode()
    rels = re.sub(r"<Relationship [^>]*core-properties[^>]*/>", "", rels)
    return corpus.rezip(data, {"_rels/.rels": rels.encode()})


# DOCX


def test_docx_keeps_headings_lists_tables_text_boxes_and_footnotes():
    doc = parse_bytes("reports/harbour.docx", corpus.report_docx())

    assert doc.text == corpus.REPORT_TEXT
    assert doc.format == "docx"
    assert doc.page_offsets == [0]
    assert _sections(doc.text) == [
        (1, "Harbour Survey"),
        (1, "Introduction"),
        (2, "Piers"),
        (2, "Tide table"),
        (2, "Custom outline heading"),
        (1, "Appendix"),
    ]
    assert [(s.level, s.title) for s in doc.sections] == _sections(doc.text)
    assert doc.title == "Harbour Survey 2024"
    assert doc.metadata == {
        "author": "Ada Lovelace",
        "created": "2024-03-01T09:30:00+00:00",
        "modified": "2024-03-02T17:05:00+00:00",
        "subject": "Tides",
        "keywords": "harbour, tides",
    }
    assert doc.warnings == ["1 picture not read (only text is extracted)"]


def test_docx_table_is_one_markdown_block_with_merged_cells_repeated():
    doc = parse_bytes("harbour.docx", corpus.report_docx())

    start = doc.text.index("| Pier |")
    assert doc.text[start:].split("\n\n")[0].split("\n") == [
        "| Pier | Depth (m) | Notes |",
        "|---|---|---|",
        "| A | 4.5 | sandy \\| soft second paragraph |",
        "| B | 6.0 | rocky |",
        "| C (closed) | C (closed) | rocky |",
    ]


def test_docx_leaves_out_headers_footers_deleted_text_and_the_text_box_fallback():
    text = parse_bytes("harbour.docx", corpus.report_docx()).text

    assert "header" not in text and "Running footer" not in text
    assert "removed words" not in text
    assert text.count("the lighthouse was built in 1850") == 1


def test_docx_title_falls_back_to_the_first_top_heading_then_the_file_name():
    doc = parse_bytes("harbour.docx", _without_core_properties(corpus.report_docx()))
    assert (doc.title, doc.metadata) == ("Harbour Survey", {})

    import docx

    plain = docx.Document()
    plain.core_properties.title = ""
    plain.add_paragraph("Just a sentence.")
    buffer = io.BytesIO()
    plain.save(buffer)
    doc = parse_bytes("notes/plain-note.docx", buffer.getvalue())
    assert (doc.title, doc.text) == ("plain-note", "Just a sentence.")


@pytest.mark.parametrize(("suffix", "content_type"), [(".docm", DOCM), (".dotx", DOTX), (".dotm", DOTM)])
def test_macro_enabled_and_template_word_files_parse_as_docx(suffix, content_type):
    data = corpus.with_main_content_type(corpus.valve_docx(), content_type)
    data = corpus.rezip(data, add={"word/vbaProject.bin": b'\x00Attribute VB_Name = "AutoOpen"'})

    doc = parse_bytes(f"valve{suffix}", data)

    assert doc.text == parse_bytes("valve.docx", corpus.valve_docx()).text
    assert _sections(doc.text) == [(1, "Valve maintenance"), (2, "Greasing the spindle")]
    assert doc.warnings == []


def test_docx_page_limit_uses_the_page_count_word_saved():
    app = b'<?xml version="1.0"?><Properties xmlns="x"><Pages>9</Pages></Properties>'
    data = corpus.rezip(corpus.valve_docx(), {"docProps/app.xml": app})

    with pytest.raises(ParseError, match=r"^too large: 9 pages, the limit is 5 \(INGEST_MAX_PAGES\)$"):
        parse_bytes("long.docx", data, ParseLimits(max_pages=5))
    assert parse_bytes("long.docx", data, ParseLimits(max_pages=9)).page_offsets == [0]


def test_body_text_that_looks_like_markdown_structure_is_escaped():
    assert escape_line("# not a heading") == "\\# not a heading"
    assert escape_line("```python") == "\\```python"
    assert escape_line("=====") == "\\====="
    assert escape_line("----") == "\\----"
    assert escape_line("- a list item stays") == "- a list item stays"
    assert markdown_table([["a", "", "b|c"], ["", "", ""], ["x"]]) == "| a | | b\\|c |\n|---|---|---|\n| x | | |"


# PPTX


def test_pptx_slides_are_pages_with_title_headings_tables_groups_and_notes():
    doc = parse_bytes("decks/review.pptx", corpus.deck_pptx())

    assert doc.text == PAGE_SEPARATOR.join(corpus.DECK_SLIDES)
    assert doc.format == "pptx"
    starts = [0]
    for slide in corpus.DECK_SLIDES[:-1]:
        starts.append(starts[-1] + len(slide) + len(PAGE_SEPARATOR))
    assert doc.page_offsets == starts
    assert [doc.text[o:].split("\n", 1)[0] for o in doc.page_offsets] == [
        "## Quarterly Review",
        "## Revenue",
        "## Regional table",
        "## Slide 4",
    ]
    assert _sections(doc.text) == [(2, "Quarterly Review"), (2, "Revenue"), (2, "Regional table"), (2, "Slide 4")]
    assert doc.title == "Quarterly Review"
    assert doc.metadata == {
        "author": "Grace Hopper",
        "created": "2024-03-01T09:30:00+00:00",
        "modified": "2024-03-02T17:05:00+00:00",
    }
    assert doc.warnings == [
        "1 picture not read (only text is extracted)",
        "1 chart not read (only text is extracted)",
    ]


def test_pptx_table_lines_and_reading_order():
    slide = parse_bytes("review.pptx", corpus.deck_pptx()).text.split("## Regional table\n\n", 1)[1]

    assert slide.split("\n\n")[0].split("\n") == [
        "| Region | Q2 | Q3 |",
        "|---|---|---|",
        "| Europe | 1.2 | 1.5 |",
        "| Asia \\| Pacific | 0.8 | 1.5 |",
    ]
    revenue = corpus.DECK_SLIDES[1]
    assert revenue.index("Draft") < revenue.index("Revenue grew") < revenue.index("Source: finance team")


def test_pptx_title_falls_back_to_the_first_slide_title():
    data = corpus.slides_pptx(2)
    assert parse_bytes("topics.pptx", data).title == "Topic 1"
    assert parse_bytes("topics.pptx", _without_core_properties(data)).title == "Topic 1"
    assert parse_bytes("solar.pptx", corpus.solar_pptx()).title == "Solar farm"


def test_pptx_slide_limit():
    data = corpus.slides_pptx(3)

    with pytest.raises(ParseError, match=r"^too large: 3 slides, the limit is 2 \(INGEST_MAX_PAGES\)$"):
        parse_bytes("topics.pptx", data, ParseLimits(max_pages=2))
    assert len(parse_bytes("topics.pptx", data, ParseLimits(max_pages=3)).page_offsets) == 3


@pytest.mark.parametrize(("suffix", "content_type"), [(".pptm", PPTM), (".ppsx", PPSX), (".potx", POTX)])
def test_macro_enabled_show_and_template_decks_parse_as_pptx(suffix, content_type):
    data = corpus.with_main_content_type(corpus.solar_pptx(), content_type)

    doc = parse_bytes(f"solar{suffix}", data)

    assert doc.text == (
        "## Solar farm\n\n## Panel cleaning\n\n- Clean the photovoltaic panels with deionised water every quarter "
        "to keep the inverter yield high.\n\nNotes: Dust storms double the cleaning rate."
    )
    assert doc.page_offsets == [0, 15]


@pytest.mark.parametrize(
    ("key", "make"),
    [("slow.docx", corpus.valve_docx), ("slow.pptx", corpus.solar_pptx), ("slow.odt", corpus.report_odt)],
    ids=["docx", "pptx", "odt"],
)
def test_time_limit(key, make):
    with pytest.raises(ParseError, match=r"^too slow: .* the limit is 0 s \(INGEST_MAX_PARSE_SECONDS\)$"):
        parse_bytes(key, make(), ParseLimits(max_seconds=0))


# Hostile files


def _corrupt_member(data: bytes) -> bytes:
    """`data` with bytes in the middle of word/document.xml's compressed stream flipped."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("word/document.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    return data[:start] + bytes(b ^ 0xFF for b in data[start : start + 16]) + data[start + 16 :]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


HOSTILE = {
    "zip-bomb.docx": (corpus.zip_bomb_docx, r"^DOCX member word/media/padding.bin expands \d+x to 64 MiB: refused"),
    "xxe.docx": (corpus.xxe_docx, r"^refused DOCX file: word/document.xml declares a DTD"),
    "xxe.pptx": (
        lambda: corpus.rezip(
            corpus.solar_pptx(),
            {
                "ppt/slides/slide1.xml": b'<?xml version="1.0"?><!DOCTYPE p:sld [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            },
        ),
        r"^refused PPTX file: ppt/slides/slide1.xml declares a DTD",
    ),
    "billion-laughs.docx": (corpus.billion_laughs_docx, r"^refused DOCX file: word/document.xml declares a DTD"),
    "encrypted.docx": (corpus.encrypted_office, r"^encrypted or legacy binary Office file, not a DOCX"),
    "encrypted.pptx": (corpus.encrypted_office, r"^encrypted or legacy binary Office file, not a PPTX"),
    "page.docx": (lambda: b"<!DOCTYPE html><html><body><p>hi</p></body></html>", r"^not a DOCX file: looks like HTML$"),
    "paper.pptx": (lambda: b"{\\rtf1\\ansi Minutes of the meeting}", r"^not a PPTX file: unrecognised content$"),
    "truncated.docx": (lambda: corpus.valve_docx()[:3000], r"^corrupt DOCX file: "),
    "truncated.pptx": (lambda: corpus.solar_pptx()[:3000], r"^corrupt PPTX file: "),
    "deck.docx": (corpus.solar_pptx, r"^not a DOCX file: looks like a PowerPoint presentation$"),
    "letter.pptx": (corpus.valve_docx, r"^not a PPTX file: looks like a Word document$"),
    "archive.docx": (
        lambda: _zip({"readme.txt": b"hello"}),
        r"^not a DOCX file: a ZIP archive without Office parts",
    ),
    "broken-xml.docx": (
        lambda: corpus.with_document_xml(corpus.valve_docx(), "<w:document><w:body><w:p>"),
        r"^corrupt DOCX file: XMLSyntaxError",
    ),
    "flipped-bytes.docx": (lambda: _corrupt_member(corpus.valve_docx()), r"^corrupt DOCX file: word/document.xml"),
    "empty.pptx": (lambda: b"", r"^empty file \(0 bytes\)$"),
}


@pytest.mark.parametrize("key", list(HOSTILE))
def test_hostile_office_files_fail_with_a_clear_reason(key):
    make, reason = HOSTILE[key]

    with pytest.raises(ParseError, match=reason):
        parse_bytes(key, make())


def test_xxe_never_reaches_the_text(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    data = corpus.xxe_docx().replace(b"file:///etc/hostname", secret.as_uri().encode())

    with pytest.raises(ParseError) as failure:
        parse_bytes("xxe.docx", data)
    assert "TOP-SECRET-CONTENT" not in str(failure.value)


def test_office_xml_parsers_resolve_no_entities_even_past_the_dtd_check(tmp_path):
    """The libraries' own parsers are the second line: no external entity is read, an entity bomb is refused."""
    from docx.oxml import parse_xml as docx_parse_xml
    from lxml import etree
    from pptx.oxml import parse_xml as pptx_parse_xml

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xxe = (
        f'<!DOCTYPE w:document [<!ENTITY e SYSTEM "{secret.as_uri()}">]>'
        f'<w:document xmlns:w="{corpus.W_NS}"><w:body><w:p><w:r><w:t>host: &e;</w:t></w:r></w:p></w:body></w:document>'
    ).encode()
    laughs = corpus.billion_laughs_docx()
    with zipfile.ZipFile(io.BytesIO(laughs)) as archive:
        laughs_xml = archive.read("word/document.xml")
    for parse_xml in (docx_parse_xml, pptx_parse_xml):
        assert "TOP-SECRET" not in "".join(parse_xml(xxe).itertext())
        with pytest.raises(etree.XMLSyntaxError, match="amplification"):
            parse_xml(laughs_xml)


def test_every_office_file_goes_through_the_zip_checks(monkeypatch):
    from ingestion_assets.parsing import containers

    calls = []
    real = containers.open_zip

    def spy(data, what, *args, **kwargs):
        calls.append(what)
        return real(data, what, *args, **kwargs)

    monkeypatch.setattr(containers, "open_zip", spy)
    parse_bytes("valve.docx", corpus.valve_docx())
    parse_bytes("solar.pptx", corpus.solar_pptx())
    with pytest.raises(ParseError, match="ZIP bomb"):
        parse_bytes("bomb.docx", corpus.zip_bomb_docx())

    assert calls == ["DOCX", "PPTX", "DOCX"]


def test_importing_the_parsing_package_loads_no_office_library():
    code = (
        "import sys, ingestion_assets.parsing; "
        "print(sorted(m for m in ('docx', 'pptx', 'lxml', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent
    )
    assert out.stdout.strip() == "[]"


# OpenDocument


def test_odt_keeps_headings_lists_tables_frames_and_notes():
    doc = parse_bytes("reports/harbour.odt", corpus.report_odt())

    assert doc.text == corpus.ODT_TEXT
    assert (doc.format, doc.page_offsets) == ("odt", [0])
    assert _sections(doc.text) == [(1, "Introduction"), (2, "Piers"), (2, "Tide table"), (1, "Appendix")]
    assert doc.title == "Harbour Survey 2024"
    assert doc.metadata == {
        "author": "Ada Lovelace",
        "created": "2024-03-01T09:30:00",
        "modified": "2024-03-02T17:05:00",
        "subject": "Tides",
        "keywords": "harbour, tides",
    }
    assert doc.warnings == ["1 picture not read (only text is extracted)"]
    assert "removed words" not in doc.text and "a comment" not in doc.text and "Introduction 1" not in doc.text


def test_odp_slides_are_pages_in_reading_order_without_footers():
    doc = parse_bytes("decks/review.odp", corpus.deck_odp())

    assert doc.text == PAGE_SEPARATOR.join(corpus.ODP_SLIDES)
    assert doc.format == "odp"
    assert doc.page_offsets == [0, 38, 175]
    assert [doc.text[o:].split("\n", 1)[0] for o in doc.page_offsets] == [
        "## Quarterly Review",
        "## Revenue",
        "## Slide 3",
    ]
    assert (doc.title, doc.metadata) == ("Quarterly Review", {"author": "Grace Hopper"})
    assert doc.warnings == ["1 picture not read (only text is extracted)"]
    with pytest.raises(ParseError, match=r"^too large: 3 slides, the limit is 2 \(INGEST_MAX_PAGES\)$"):
        parse_bytes("review.odp", corpus.deck_odp(), ParseLimits(max_pages=2))


def test_odt_title_falls_back_to_the_first_top_heading():
    data = corpus.odf(corpus.ODT_MIMETYPE, '<office:text><text:h text:outline-level="1">Tides</text:h></office:text>')
    assert parse_bytes("t.odt", data).title == "Tides"


ODF_HOSTILE = {
    "xxe.odt": (
        lambda: corpus.odf(
            corpus.ODT_MIMETYPE,
            "<office:text><text:p>host: &e;</text:p></office:text>",
            doctype='<!DOCTYPE office:document-content [<!ENTITY e SYSTEM "file:///etc/hostname">]>',
        ),
        r"^refused ODT file: content.xml declares a DTD",
    ),
    "laughs.odt": (
        lambda: corpus.odf(
            corpus.ODT_MIMETYPE,
            "<office:text><text:p>&l3;</text:p></office:text>",
            doctype='<!DOCTYPE x [<!ENTITY l0 "ha"><!ENTITY l1 "&l0;&l0;"><!ENTITY l2 "&l1;&l1;">'
            '<!ENTITY l3 "&l2;&l2;">]>',
        ),
        r"^refused ODT file: content.xml declares a DTD",
    ),
    "bomb.odt": (
        lambda: corpus.rezip(corpus.report_odt(), add={"Pictures/zeros.bin": bytes(16 << 20)}),
        r"^ODT member Pictures/zeros.bin expands \d+x",
    ),
    "locked.odt": (
        lambda: corpus.odf(corpus.ODT_MIMETYPE, "<office:text/>", manifest_extra="<manifest:encryption-data/>"),
        r"^encrypted ODT file",
    ),
    "ole.odt": (corpus.encrypted_office, r"^encrypted or legacy binary Office file"),
    "slides.odt": (corpus.deck_odp, r"^not an ODT file: looks like an ODP file$"),
    "sheet.odt": (
        lambda: corpus.odf("application/vnd.oasis.opendocument.spreadsheet", "<office:spreadsheet/>"),
        r"^not an ODT file: looks like an OpenDocument spreadsheet$",
    ),
    "word.odt": (corpus.valve_docx, r"^not an ODT file: looks like an Office Open XML file"),
    "page.odp": (lambda: b"<html><body>x</body></html>", r"^not a ODP file: looks like HTML$"),
    "broken.odt": (
        lambda: corpus.odf(corpus.ODT_MIMETYPE, "<office:text><text:p>unclosed</office:text>"),
        r"^corrupt ODT file: content.xml: mismatched tag",
    ),
    "truncated.odt": (lambda: corpus.report_odt()[:1500], r"^corrupt ODT file: "),
}


@pytest.mark.parametrize("key", list(ODF_HOSTILE))
def test_hostile_opendocument_files_fail_with_a_clear_reason(key):
    make, reason = ODF_HOSTILE[key]

    with pytest.raises(ParseError, match=reason):
        parse_bytes(key, make())


# The whole pipeline


def test_docx_and_pptx_through_the_pipeline(instance, store, inbox):
    from ingestion_assets.search import search
    from resources.embedding_model import EmbeddingModel

    (inbox / "valve.docx").write_bytes(corpus.valve_docx())
    (inbox / "solar.pptx").write_bytes(corpus.solar_pptx())
    (inbox / "survey.odt").write_bytes(corpus.report_odt())
    keys = ["solar.pptx", "survey.odt", "valve.docx"]

    assert materialize(instance, keys).success

    chunks = store.read("chunks", ["doc_id", "text", "section"]).to_pylist()
    by_doc = {key: [c for c in chunks if c["doc_id"] == key] for key in keys}
    spindle = [c for c in by_doc["valve.docx"] if "brass spindle" in c["text"]]
    assert spindle and spindle[0]["section"] == "Valve maintenance › Greasing the spindle"
    assert any("| Spindle | 6 months |" in c["text"] for c in by_doc["valve.docx"])
    panels = [c for c in by_doc["solar.pptx"] if "photovoltaic panels" in c["text"]]
    assert panels and panels[0]["section"] == "Panel cleaning"
    assert any("Dust storms double the cleaning rate" in c["text"] for c in by_doc["solar.pptx"])

    tide = [c for c in by_doc["survey.odt"] if "| B | 4.5 | rocky |" in c["text"]]
    assert tide and tide[0]["section"] == "Introduction › Tide table"
    model = EmbeddingModel()
    assert search(store, model, "how often should the gate valve spindle be greased", k=3, hybrid=True)[0].doc_id == (
        "valve.docx"
    )
    hits = search(store, model, "cleaning photovoltaic solar panels with deionised water", k=3, hybrid=True)
    assert hits[0].doc_id == "solar.pptx" and "photovoltaic panels" in hits[0].text
    assert (hits[0].section, hits[0].page_end) == ("Panel cleaning", 2)


def test_deeply_nested_tables_end_in_a_reason_or_a_bounded_parse():
    cell = "<w:p><w:r><w:t>core</w:t></w:r></w:p>"
    for depth, expected in [(50, "core"), (3000, None)]:
        body = cell
        for _ in range(depth):
            body = f"<w:tbl><w:tr><w:tc>{body}</w:tc></w:tr></w:tbl><w:p/>"
        xml = f'<w:document xmlns:w="{corpus.W_NS}"><w:body>{body}</w:body></w:document>'
        data = corpus.with_document_xml(corpus.valve_docx(), xml)
        if expected is None:
            with pytest.raises(ParseError, match="corrupt DOCX file: .*depth"):
                parse_bytes("deep.docx", data)
        else:
            assert expected in parse_bytes("deep.docx", data).text
    body = "<text:p>core</text:p>"
    for _ in range(5000):
        body = (
            f"<table:table><table:table-row><table:table-cell>{body}</table:table-cell></table:table-row></table:table>"
        )
    assert "core" in parse_bytes("deep.odt", corpus.odf(corpus.ODT_MIMETYPE, f"<office:text>{body}</office:text>")).text
