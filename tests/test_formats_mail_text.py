"""E-mail messages (.eml), text in any encoding and HTML tables: exact text, headings, tables, metadata, hostile input."""

from __future__ import annotations

import time

import pytest

from ingestion_assets.parsing import ParseError, ParseLimits, decode_text, html_to_text, markdown_sections, parse_bytes
from tests import mail_corpus as corpus
from tests.conftest import materialize


def _sections(text: str) -> list[tuple[int, str]]:
    return [(s.level, s.title) for s in markdown_sections(text)]


# E-mail


def test_eml_headers_body_and_attachments():
    doc = parse_bytes("mail/dues.eml", corpus.report_message())

    assert doc.text == (
        "From: Alice Example <alice@example.com>\n"
        "To: Bob <bob@example.com>, carol@example.com\n"
        "Cc: Dave <dave@example.com>\n"
        "Date: 2024-03-05T10:15:00+01:00\n"
        "Subject: Harbour dues für 2024\n"
        "Attachments: dues.md, berths.pdf, tool.exe, Earlier thread.eml\n"
        "\n"
        "# Harbour dues für 2024\n"
        "\n"
        "Hi Bob,\n"
        "\n"
        "\\# not a heading, just a line starting with a hash\n"
        "\n"
        "The harbour dues are attached.\n"
        "\n"
        "## Summary\n"
        "\n"
        "Dues rise by 4 % in April.\n"
        "\n"
        "## Attachment: dues.md\n"
        "\n"
        "### Harbour dues\n"
        "\n"
        "Dues are charged per metre of hull.\n"
        "\n"
        "#### Exemptions\n"
        "\n"
        "Lifeboats pay nothing.\n"
        "\n"
        "## Attachment: berths.pdf\n"
        "\n"
        "### Berth Schedule\n"
        "\n"
        "The ferry berths at quay four every morning at seven.\n"
        "\n"
        "## Attachment: Earlier thread.eml\n"
        "\n"
        "From: carol@example.com\n"
        "To: Bob <bob@example.com>, carol@example.com\n"
        "Date: 2024-03-05T10:15:00+01:00\n"
        "Subject: Earlier thread\n"
        "\n"
        "### Earlier thread\n"
        "\n"
        "Can we discuss the dues on Friday?\n"
    )
    assert (
        [(s.level, s.title) for s in doc.sections]
        == _sections(doc.text)
        == [
            (1, "Harbour dues für 2024"),
            (2, "Summary"),
            (2, "Attachment: dues.md"),
            (3, "Harbour dues"),
            (4, "Exemptions"),
            (2, "Attachment: berths.pdf"),
            (3, "Berth Schedule"),
            (2, "Attachment: Earlier thread.eml"),
            (3, "Earlier thread"),
        ]
    )
    assert (doc.format, doc.title, doc.page_offsets) == ("eml", "Harbour dues für 2024", [0])
    assert doc.metadata == {
        "from": "Alice Example <alice@example.com>",
        "to": "Bob <bob@example.com>, carol@example.com",
        "cc": "Dave <dave@example.com>",
        "subject": "Harbour dues für 2024",
        "date": "2024-03-05T10:15:00+01:00",
    }
    assert doc.warnings == ["1 attachment(s) of a type that is not read: tool.exe"]
    assert "HTML version" not in doc.text


def test_eml_html_only_body_keeps_headings_and_table():
    doc = parse_bytes("alert.eml", corpus.html_only_message())

    assert doc.text.split("\n\n", 1)[1] == (
        "# Tide alert\n\n## Tide alert\n\nSpring tides this week.\n\n"
        "| Day | High water |\n|---|---|\n| Mon | 06:12 |\n| Tue | 06:58 |\n"
    )
    assert _sections(doc.text) == [(1, "Tide alert"), (2, "Tide alert")]
    assert "Newsletter" not in doc.text and doc.warnings == []


def test_eml_quoted_printable_latin1_and_encoded_headers():
    doc = parse_bytes("creme.eml", corpus.latin1_message())

    assert doc.text == (
        "From: Jörg Müller <jorg@example.com>\nTo: bob@example.com\nDate: 2024-03-05T10:15:00+01:00\n"
        "Subject: Crème brûlée\n\n# Crème brûlée\n\nLe café était très agréable, à bientôt. Fin.\n"
    )
    assert doc.title == "Crème brûlée" and doc.metadata["from"] == "Jörg Müller <jorg@example.com>"
    assert doc.warnings == []


@pytest.mark.parametrize(
    ("charset", "warning"),
    [
        ("utf-8", "body: not valid utf-8 (byte 3); decoded as Windows-1252"),
        ("x-unknown", "body: unknown charset 'x-unknown'; decoded as Windows-1252"),
        ("us-ascii", "body: not valid us-ascii (byte 3); decoded as Windows-1252"),
        ("windows-1252", None),
        ("iso-8859-1", None),
    ],
)
def test_eml_wrong_or_unknown_charset_is_detected_with_a_warning(charset, warning):
    doc = parse_bytes("menu.eml", corpus.mislabelled_message(charset))

    assert doc.text == "From: a@example.com\nSubject: Menu\n\n# Menu\n\nCafé crème – 5 €\n"
    assert doc.warnings == ([warning] if warning else [])


def test_eml_attached_messages_are_read_three_levels_deep():
    for data in (corpus.nested_message(3), corpus.nested_eml_files(3)):
        doc = parse_bytes("thread.eml", data)
        assert "Innermost words." in doc.text and doc.warnings == []
        assert [s.title for s in doc.sections if not s.title.startswith("Attachment")] == [
            "Level 3",
            "Level 2",
            "Level 1",
            "Level 0",
        ]

    doc = parse_bytes("thread.eml", corpus.nested_message(4))
    assert "Forwarding level 0." in doc.text and "Innermost words." not in doc.text
    assert doc.warnings == [
        "attachment Level 3.eml: attachment Level 2.eml: attachment Level 1.eml: "
        "attachment Level 0.eml not read: a message attached more than 3 levels deep is not read"
    ]
    doc = parse_bytes("thread.eml", corpus.nested_eml_files(4))
    assert "Innermost words." not in doc.text
    assert doc.warnings[0].endswith(
        "attachment level-0.eml not read: a message attached more than 3 levels deep is not read"
    )


def test_eml_with_a_thousand_attachments_is_bounded():
    started = time.monotonic()
    doc = parse_bytes("many.eml", corpus.many_attachments(1000))

    assert time.monotonic() - started < 30
    attachments = [s.title for s in doc.sections if s.title.startswith("Attachment: ")]
    assert attachments == [f"Attachment: n{i}.txt" for i in range(200)]
    assert "Note number 199." in doc.text and "Note number 200." not in doc.text
    header = doc.text.splitlines()[4]
    assert header == "Attachments: " + ", ".join(f"n{i}.txt" for i in range(50)) + " and 950 more"
    assert doc.warnings == ["800 attachment(s) not read: the limit is 200 per message"]


def test_eml_deep_multipart_is_bounded():
    doc = parse_bytes("deep.eml", corpus.deep_multipart(10))
    assert doc.text == "From: a@example.com\nSubject: Deep\n\n# Deep\n\nThe innermost text.\n"

    doc = parse_bytes("deep.eml", corpus.deep_multipart(30))
    assert "innermost" not in doc.text
    assert doc.warnings == [
        "multipart structure nested more than 20 levels deep: the deeper parts are not read",
        "no body text and no readable attachment",
    ]
    with pytest.raises(ParseError, match="corrupt e-mail message: its MIME parts are nested too deeply"):
        parse_bytes("deep.eml", corpus.deep_multipart(3000))


def test_eml_huge_base64_attachment_stays_within_the_time_limit():
    data = corpus.huge_attachment(8)
    started = time.monotonic()
    doc = parse_bytes("logs.eml", data, ParseLimits(max_seconds=60))

    assert time.monotonic() - started < 60
    assert doc.text.count("pump 3 pressure nominal") == 8 * 2**20 // 44
    assert doc.warnings == ["1 attachment(s) of a type that is not read: dump.bin"]
    with pytest.raises(ParseError, match=r"too slow: .* over 0.01 s \(INGEST_MAX_PARSE_SECONDS\)"):
        parse_bytes("logs.eml", data, ParseLimits(max_seconds=0.01))


def test_eml_malformed_mime_keeps_what_is_readable():
    doc = parse_bytes("broken.eml", corpus.malformed_message())

    assert doc.text == (
        "From: a@example.com\nDate: the day after tomorrow\nSubject: Grüße\nAttachments: r.pdf\n\n"
        "# Grüße\n\nStill readable.\n"
    )
    assert doc.metadata == {"from": "a@example.com", "subject": "Grüße"}
    assert doc.warnings[0] == "unreadable Date header, kept as written: the day after tomorrow"
    assert doc.warnings[1].startswith("attachment r.pdf not read: ")


def test_eml_that_is_not_a_message_is_refused():
    pdf = parse_bytes("invoice.eml", corpus.berth_pdf())  # unmistakably a PDF: read as one, with a warning
    assert pdf.format == "pdf" and pdf.warnings == ["named .eml but the content is PDF: read as such"]
    with pytest.raises(ParseError, match="not an e-mail message: it does not start with headers"):
        parse_bytes("notes.eml", b"Just some notes\n")
    with pytest.raises(ParseError, match="not an e-mail message: no From, To, Subject or Date header"):
        parse_bytes("notes.eml", b"Note: hello\n\nbody\n")
    with pytest.raises(ParseError, match="empty file"):
        parse_bytes("empty.eml", b"")


def test_eml_whose_only_part_is_an_attachment():
    data = (
        b"From: a@example.com\r\nSubject: Scan\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b'Content-Disposition: attachment; filename="../../etc/notes.txt"\r\n\r\nScanned words.\r\n'
    )
    doc = parse_bytes("scan.eml", data)

    assert doc.text == (
        "From: a@example.com\nSubject: Scan\nAttachments: notes.txt\n\n# Scan\n\n"
        "## Attachment: notes.txt\n\nScanned words.\n"
    )


# Text in any encoding


@pytest.mark.parametrize(
    ("text", "encoding", "warning"),
    [
        ("Grüße\nline two", "utf-16-le", "no byte order mark; decoded as UTF-16-LE"),
        ("Grüße\nline two", "utf-16-be", "no byte order mark; decoded as UTF-16-BE"),
        ("Привет, мир\n", "utf-16-le", "no byte order mark; decoded as UTF-16-LE"),
        ("这是中文。\n北京\n", "utf-16-le", "no byte order mark; decoded as UTF-16-LE"),
        ("Grüße 😀\n", "utf-32-le", "no byte order mark; decoded as UTF-32-LE"),
        ("Grüße 😀\n", "utf-32-be", "no byte order mark; decoded as UTF-32-BE"),
        ("Le café était très agréable, à bientôt.", "latin-1", "not valid UTF-8 (byte 6); decoded as Windows-1252"),
        ("Er sagte „Grüße“ – 5 €.", "cp1252", "not valid UTF-8 (byte 9); decoded as Windows-1252"),
        ("Zażółć gęślą jaźń.", "cp1250", "not valid UTF-8 (byte 2); decoded as Windows-1250 (Central European)"),
        ("Привет, как дела?", "cp1251", "not valid UTF-8 (byte 0); decoded as Windows-1251 (Cyrillic)"),
        ("Привет, как дела?", "koi8-r", "not valid UTF-8 (byte 0); decoded as KOI8-R (Cyrillic)"),
    ],
)
def test_text_in_any_encoding(text, encoding, warning):
    assert decode_text(text.encode(encoding)) == (text, [warning])


def test_text_decoding_of_damaged_utf8_and_declared_charsets():
    damaged = "Grüße aus Köln, schöne Grüße ".encode() + b"\xe9 Ende"
    assert decode_text(damaged) == (
        "Grüße aus Köln, schöne Grüße \ufffd Ende",
        ["not valid UTF-8 (byte 35); decoded as UTF-8 with 1 damaged characters replaced"],
    )
    assert decode_text("Привет".encode("cp1251"), "windows-1251") == ("Привет", [])
    assert decode_text(b"caf\x93", "iso-8859-1") == ("caf\u201c", [])
    assert decode_text("Grüße".encode(), "us-ascii") == ("Grüße", ["not valid us-ascii (byte 2); decoded as UTF-8"])
    assert decode_text(b"caf\xe9", "base64") == ("café", ["unknown charset 'base64'; decoded as Windows-1252"])
    assert decode_text(b"\xff\xfeA\x00B") == ("A\ufffd", ["invalid UTF-16 (byte 4): damaged characters replaced"])


def test_binary_content_named_txt_is_refused():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256)) * 4
    with pytest.raises(ParseError, match=r"^corrupt PNG image"):  # read as the image it says it is
        parse_bytes("photo.txt", png)
    gif = b"GIF89a\x10\x00\x10\x00" + bytes(range(256)) * 4
    with pytest.raises(ParseError, match=r"^binary content \(NUL bytes\), not text: looks like an image$"):
        parse_bytes("photo.txt", gif)
    executable = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(range(256)) * 4
    with pytest.raises(ParseError, match=r"^binary content \(NUL bytes\), not text$"):
        parse_bytes("setup.txt", executable)
    with pytest.raises(ParseError, match=r"^binary content \(460 control bytes in 620\), not text$"):
        parse_bytes("noise.md", bytes(range(1, 32)) * 20)


def test_utf16_text_file_keeps_its_headings():
    doc = parse_bytes("lamp.txt", corpus.utf16_text())

    assert doc.text == corpus.LIGHTHOUSE_TEXT
    assert [(s.level, s.title) for s in doc.sections] == [(1, "Lighthouse log"), (2, "Lamp room")]
    assert doc.title == "Lighthouse log"
    assert doc.warnings == ["no byte order mark; decoded as UTF-16-LE"]


def test_html_meta_charset_is_honoured():
    markup = '<html><head><meta charset="windows-1251"><title>Т</title></head><body><h1>Привет</h1></body></html>'
    doc = parse_bytes("ru.html", markup.encode("cp1251"))

    assert doc.text == "Т\n\n# Привет" and doc.warnings == []


def test_rst_org_and_asciidoc_headings_become_markdown_headings():
    doc = parse_bytes("docs/pump.rst", corpus.PUMP_RST.encode())
    assert doc.text == (
        "# Pump station manual\n\nIntro text.\n\n## Installation\n\nBolt the pump down.\n\n### Wiring\n\n"
        "Use 2.5 mm² cable::\n\n    # this is a shell comment\n    make install\n\n## Maintenance\n\n"
        "\\# a line with a hash\nGrease monthly.\n"
    )
    assert [(s.level, s.title) for s in doc.sections] == [
        (1, "Pump station manual"),
        (2, "Installation"),
        (3, "Wiring"),
        (2, "Maintenance"),
    ]
    assert (doc.format, doc.title) == ("rst", "Pump station manual")

    doc = parse_bytes("garden.org", corpus.GARDEN_ORG.encode())
    assert doc.text == (
        "# Garden plan\n\n\\# a comment line\n\n## Beds\n\nTomatoes go in the south bed.\n\n### TODO Compost\n\n"
        "Turn it weekly.\n```sh\n# water at dawn\n```\n\n## Tools\n\nA spade.\n"
    )
    assert _sections(doc.text) == [(1, "Garden plan"), (2, "Beds"), (3, "TODO Compost"), (2, "Tools")]
    assert (doc.title, doc.metadata) == ("Garden plan", {"author": "Ann Gardener"})

    doc = parse_bytes("boiler.adoc", corpus.BOILER_ADOC.encode())
    assert doc.text == (
        "# Boiler Guide\n\nPreface text.\n\n## Lighting the pilot\n\nHold the knob.\n\n```bash\n# comment in code\n```\n\n"
        "### Safety\n\n\nAn example block.\n\n"
    )
    assert _sections(doc.text) == [(1, "Boiler Guide"), (2, "Lighting the pilot"), (3, "Safety")]
    assert (doc.title, doc.metadata) == ("Boiler Guide", {"author": "Tom Heater"})


def test_markup_with_an_unclosed_block_keeps_later_text_out_of_headings():
    doc = parse_bytes("open.adoc", b"= Doc\n\n----\n# code\n== not a heading in code\n")
    assert doc.text == "# Doc\n\n```\n# code\n== not a heading in code\n```\n"
    assert _sections(doc.text) == [(1, "Doc")]


# HTML tables


def test_html_table_rows_stay_one_markdown_table():
    text = html_to_text(
        "<p>Intro</p>\n<table>\n <tr><th>Name</th><th>Value</th></tr>\n <tr><td>rate</td><td>10/s</td></tr>\n"
        " <tr><td>burst</td><td>50</td></tr>\n</table>\n<p>After</p>"
    )
    assert text == "Intro\n\n| Name | Value |\n|---|---|\n| rate | 10/s |\n| burst | 50 |\n\nAfter"


def test_html_table_header_is_thead_or_th_row_else_the_first_row():
    text = html_to_text(
        "<table><caption>Prices</caption><thead><tr><td>Item</td><td>Price</td></tr></thead>"
        "<tbody><tr><td>Tea</td><td>2</td></tr></tbody></table>"
        "<table><tr><td>key</td><td>value</td></tr><tr><td>k2</td><td>v2</td></tr></table>"
    )
    assert text == ("Prices\n\n| Item | Price |\n|---|---|\n| Tea | 2 |\n\n| key | value |\n|---|---|\n| k2 | v2 |")


def test_html_table_cells_are_flattened_on_one_line():
    text = html_to_text(
        "<table><tr><th>Name</th><th>Notes</th></tr>"
        "<tr><td>list</td><td><ul><li>one</li><li>two</li></ul></td></tr>"
        "<tr><td>breaks</td><td>Line one<br>Line two</td></tr>"
        "<tr><td>code</td><td>Run <code>a|b</code> now.<p>Then more</p></td></tr>"
        "<tr><td>pre</td><td><pre>x = 1\ny = 2</pre></td></tr>"
        "<tr><td></td><td></td></tr></table>"
    )
    assert text == (
        "| Name | Notes |\n|---|---|\n| list | one; two |\n| breaks | Line one; Line two |\n"
        "| code | Run `a\\|b` now. Then more |\n| pre | `x = 1 y = 2` |"
    )


def test_html_table_with_heading_in_a_cell_is_a_layout_table():
    text = html_to_text(
        "<table width='100%'><tr><td><h1>News</h1><p>Hello there.</p></td></tr>"
        "<tr><td><h2>Item</h2><table><tr><th>k</th><th>v</th></tr><tr><td>1</td><td>2</td></tr></table></td></tr>"
        "</table>"
    )
    assert text == "# News\n\nHello there.\n\n## Item\n\n| k | v |\n|---|---|\n| 1 | 2 |"
    assert _sections(text) == [(1, "News"), (2, "Item")]


def test_html_nested_table_and_spans():
    text = html_to_text(
        "<table><tr><th>A</th><th>B</th></tr><tr><td>outer</td><td>"
        "<table><tr><td>k</td><td>v</td></tr><tr><td>k2</td><td>v2</td></tr></table></td></tr></table>"
        "<table><thead><tr><th rowspan=2>Name</th><th colspan=2>Q1</th></tr><tr><th>Jan</th><th>Feb</th></tr></thead>"
        "<tr><td>a</td><td>1</td><td>2</td></tr><tr><td colspan=2>Total</td><td>3</td></tr>"
        "<tr><td rowspan=2>b</td><td>4</td><td>5</td></tr><tr><td>6</td><td>7</td></tr></table>"
    )
    assert text == (
        "| A | B |\n|---|---|\n| outer | k, v; k2, v2 |\n\n"
        "| Name | Q1 Jan | Q1 Feb |\n|---|---|---|\n| a | 1 | 2 |\n| Total | | 3 |\n| b | 4 | 5 |\n| | 6 | 7 |"
    )


def test_html_table_inside_pre_is_left_alone():
    text = html_to_text("<pre>| a | b |\n|---|---|\n| 1 | 2 |</pre><pre><table><tr><td>x</td></tr></table></pre>")
    assert text == "```\n| a | b |\n|---|---|\n| 1 | 2 |\n```\n```\nx\n```"


def test_html_unclosed_cells_and_hostile_tables_are_bounded():
    assert html_to_text("<table><tr><td>a<td>b<tr><td>c<td>d</table>after") == (
        "| a | b |\n|---|---|\n| c | d |\n\nafter"
    )
    wide = html_to_text("<table>" + "<tr><td colspan=1000>x</td><td>y</td></tr>" * 5000 + "</table>")
    assert wide.splitlines()[:3] == ["| x | y |", "|---|---|", "| x | y |"] and len(wide) < 60_000
    deep = html_to_text("<table><tr><td>a</td><td>" * 200 + "core" + "</td></tr></table>" * 200)
    assert "core" in deep and len(deep) < 10_000
    tall = html_to_text("<table>" + "<tr><td rowspan=65534>a</td><td>b</td></tr>" * 3000 + "</table>")
    assert tall.splitlines()[:3] == ["| a | b |", "|---|---|", "| a | b |"] and len(tall) < 40_000
    ragged = html_to_text("<table><tr>" + "<th>h</th>" * 5000 + "</tr>" + "<tr><td>x</td></tr>" * 5000 + "</table>")
    assert ragged.splitlines()[2:4] == ["| x |", "| x |"] and len(ragged) < 80_000
    nested_lists = html_to_text("<ul><li>x" * 10_000)
    assert nested_lists.splitlines()[-1] == "  " * 8 + "- x" and len(nested_lists) < 300_000


def test_html_lists_are_dash_lines():
    text = html_to_text(
        "<ul><li>one</li><li>two<ul><li>two.a</li></ul></li><li><p>three</p></li></ul>"
        "<ol><li>first</li><li>second</li></ol><p>end</p>"
    )
    assert text == "- one\n- two\n  - two.a\n- three\n\n1. first\n2. second\n\nend"


# Through the pipeline


def test_eml_and_utf16_text_through_the_pipeline(instance, store, inbox):
    from ingestion_assets.search import search
    from resources.embedding_model import EmbeddingModel

    (inbox / "mooring.eml").write_bytes(corpus.harbour_message())
    (inbox / "lamp.txt").write_bytes(corpus.utf16_text())
    keys = ["lamp.txt", "mooring.eml"]

    assert materialize(instance, keys).success

    chunks = store.read("chunks", ["doc_id", "text", "section"]).to_pylist()
    fenders = [c for c in chunks if c["doc_id"] == "mooring.eml" and "three fenders" in c["text"]]
    assert fenders and fenders[0]["section"] == "Attachment: mooring.md › Pontoon rules › Fenders"
    lamp = [c for c in chunks if c["doc_id"] == "lamp.txt" and "Fresnel lens" in c["text"]]
    assert lamp and lamp[0]["section"] == "Lamp room"
    model = EmbeddingModel()
    hits = search(store, model, "how many fenders must a vessel hang on the pontoon", k=3, hybrid=True)
    assert hits[0].doc_id == "mooring.eml" and "three fenders" in hits[0].text
    hits = search(store, model, "who winds the clockwork that turns the lighthouse lens", k=3, hybrid=True)
    assert hits[0].doc_id == "lamp.txt"
