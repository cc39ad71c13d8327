"""Word and PowerPoint test files made at test time with python-docx and python-pptx, and hostile variants of them."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime

from ingestion_assets.parsing.containers import OLE_MAGIC

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_NAMESPACES = (
    f'xmlns:w="{W_NS}" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:v="urn:schemas-microsoft-com:vml"'
)
CREATED = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
MODIFIED = datetime(2024, 3, 2, 17, 5, tzinfo=UTC)


def png() -> bytes:
    """A small picture for documents that hold one."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _xml(fragment: str):
    from docx.oxml import parse_xml

    return parse_xml(f"<w:wrapper {_NAMESPACES}>{fragment}</w:wrapper>")[0]


def _text_box_run(text: str):
    """A run anchoring a DrawingML text box, with the VML copy Word writes as its fallback."""
    body = f"<w:txbxContent><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:txbxContent>"
    return _xml(
        "<w:r><mc:AlternateContent>"
        '<mc:Choice Requires="wps"><w:drawing><wp:anchor><a:graphic>'
        '<a:graphicData uri="http://schemas.microsoft.com/office/word/2010/wordprocessingShape">'
        f"<wps:wsp><wps:txbx>{body}</wps:txbx></wps:wsp>"
        "</a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice>"
        f"<mc:Fallback><w:pict><v:shape><v:textbox>{body}</v:textbox></v:shape></w:pict></mc:Fallback>"
        "</mc:AlternateContent></w:r>"
    )


def _set_numbering(paragraph, num_id: int, level: int) -> None:
    from docx.oxml import parse_xml

    paragraph._p.get_or_add_pPr().append(
        parse_xml(f'<w:numPr xmlns:w="{W_NS}"><w:ilvl w:val="{level}"/><w:numId w:val="{num_id}"/></w:numPr>')
    )


def _set_outline(paragraph_or_style, level: int) -> None:
    from docx.oxml import parse_xml

    paragraph_or_style._element.get_or_add_pPr().append(parse_xml(f'<w:outlineLvl xmlns:w="{W_NS}" w:val="{level}"/>'))


def _add_footnotes(document, notes: dict[int, str]) -> None:
    from docx.opc.constants import CONTENT_TYPE, RELATIONSHIP_TYPE
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part

    body = "".join(
        f'<w:footnote w:id="{number}"><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:footnote>'
        for number, text in notes.items()
    )
    xml = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:footnotes xmlns:w="{W_NS}">'
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
        f"{body}</w:footnotes>"
    )
    part = Part(PackURI("/word/footnotes.xml"), CONTENT_TYPE.WML_FOOTNOTES, xml.encode(), document.part.package)
    document.part.relate_to(part, RELATIONSHIP_TYPE.FOOTNOTES)


def _footnote_reference(paragraph, number: int) -> None:
    paragraph._p.append(_xml(f'<w:r><w:footnoteReference w:id="{number}"/></w:r>'))


def _save(document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def report_docx() -> bytes:
    """A survey report with every structure the DOCX parser keeps, and some it leaves out."""
    import docx
    from docx.enum.style import WD_STYLE_TYPE

    document = docx.Document()
    properties = document.core_properties
    properties.title = "Harbour Survey 2024"
    properties.author = "Ada Lovelace"
    properties.subject = "Tides"
    properties.keywords = "harbour, tides"
    properties.created = CREATED
    properties.modified = MODIFIED
    section = document.sections[0]
    section.header.paragraphs[0].text = "Harbour Survey · Confidential header"
    section.footer.paragraphs[0].text = "Running footer text"
    _add_footnotes(document, {1: "Measured at low tide."})

    document.add_heading("Harbour Survey", 0)
    document.add_heading("Introduction", 1)
    intro = document.add_paragraph("The harbour has three piers ")
    intro.add_run("and a lighthouse").bold = True
    intro.add_run(".")
    _footnote_reference(intro, 1)
    document.add_paragraph("First line\nsecond line of the same paragraph")
    document.add_paragraph("# not a heading, a hash in the text")
    tracked = document.add_paragraph("Kept words ")
    tracked._p.append(_xml('<w:del w:id="1" w:author="x"><w:r><w:delText>removed words</w:delText></w:r></w:del>'))
    tracked._p.append(_xml('<w:ins w:id="2" w:author="x"><w:r><w:t>inserted words</w:t></w:r></w:ins>'))
    boxed = document.add_paragraph("See the box.")
    boxed._p.append(_text_box_run("Text box: the lighthouse was built in 1850."))

    document.add_heading("Piers", 2)
    document.add_paragraph("Pier A", style="List Bullet")
    document.add_paragraph("Pier B", style="List Bullet")
    document.add_paragraph("Pier B east arm", style="List Bullet 2")
    document.add_paragraph("Measure the depth", style="List Number")
    _set_numbering(document.add_paragraph("Numbered by hand"), 1, 1)
    document.add_paragraph("A picture of the piers:").add_run().add_picture(io.BytesIO(png()))

    document.add_heading("Tide table", 2)
    table = document.add_table(rows=4, cols=3)
    for row, values in zip(
        table.rows,
        [["Pier", "Depth (m)", "Notes"], ["A", "4.5", "sandy | soft"], ["B", "6.0", "rocky"], ["C", "", ""]],
        strict=True,
    ):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    table.cell(2, 2).merge(table.cell(3, 2))
    table.cell(3, 0).merge(table.cell(3, 1))
    table.cell(3, 0).text = "C (closed)"
    table.cell(1, 2).add_paragraph("second paragraph")

    outlined = document.add_paragraph("Custom outline heading")
    _set_outline(outlined, 1)
    document.add_paragraph("Under the outline heading.")
    appendix = document.styles.add_style("Appendix Heading", WD_STYLE_TYPE.PARAGRAPH)
    appendix.base_style = document.styles["Normal"]
    _set_outline(appendix, 0)
    document.add_paragraph("Appendix", style="Appendix Heading")
    document.add_paragraph("Sources are listed here.")
    return _save(document)


REPORT_TEXT = """\
# Harbour Survey

# Introduction

The harbour has three piers and a lighthouse.[^1]

[^1]: Measured at low tide.

First line
second line of the same paragraph

\\# not a heading, a hash in the text

Kept words inserted words

See the box.

Text box: the lighthouse was built in 1850.

## Piers

- Pier A
- Pier B
  - Pier B east arm
- Measure the depth
  - Numbered by hand

A picture of the piers:

## Tide table

| Pier | Depth (m) | Notes |
|---|---|---|
| A | 4.5 | sandy \\| soft second paragraph |
| B | 6.0 | rocky |
| C (closed) | C (closed) | rocky |

## Custom outline heading

Under the outline heading.

# Appendix

Sources are listed here."""


def manual_docx(sections: int = 40, paragraphs: int = 10) -> bytes:
    """A long manual, for speed: `sections` headings, each with paragraphs, a list and a table."""
    import docx

    document = docx.Document()
    for number in range(1, sections + 1):
        document.add_heading(f"Chapter {number}", 1)
        for line in range(paragraphs):
            document.add_paragraph(f"Paragraph {line} of chapter {number} explains the valve maintenance steps.")
        for item in range(3):
            document.add_paragraph(f"Step {item}", style="List Number")
        table = document.add_table(rows=3, cols=3)
        for r, row in enumerate(table.rows):
            for c, cell in enumerate(row.cells):
                cell.text = f"r{r}c{c}"
    return _save(document)


def valve_docx() -> bytes:
    """A short maintenance note for the end-to-end test."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Maintenance note 7"
    document.add_heading("Valve maintenance", 1)
    document.add_heading("Greasing the spindle", 2)
    document.add_paragraph(
        "Grease the brass spindle of the gate valve every six months with lithium grease, "
        "after closing the upstream isolation valve."
    )
    table = document.add_table(rows=2, cols=2)
    for cell, value in zip(table._cells, ["Part", "Interval", "Spindle", "6 months"], strict=True):
        cell.text = value
    return _save(document)


def rezip(data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """`data` with members replaced or added."""
    replace = replace or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, replace.get(info.filename, source.read(info.filename)))
        for name, content in (add or {}).items():
            target.writestr(name, content)
    return out.getvalue()


def with_main_content_type(data: bytes, content_type: str) -> bytes:
    """A package whose main part is declared as `content_type` (a DOCM, DOTX, PPTM, PPSX...)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        types = archive.read("[Content_Types].xml").decode()
    types = re.sub(
        r'(PartName="/(?:word/document|ppt/presentation)\.xml" ContentType=")[^"]+"', rf'\g<1>{content_type}"', types
    )
    return rezip(data, {"[Content_Types].xml": types.encode()})


def with_document_xml(data: bytes, document_xml: str) -> bytes:
    return rezip(data, {"word/document.xml": document_xml.encode()})


def _hostile_document(doctype: str, paragraph: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{doctype}\n'
        f'<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>{paragraph}</w:t></w:r></w:p></w:body></w:document>'
    )


def xxe_docx() -> bytes:
    """document.xml declares an external entity on /etc/hostname and uses it in a paragraph."""
    doctype = '<!DOCTYPE w:document [<!ENTITY e SYSTEM "file:///etc/hostname">]>'
    return with_document_xml(valve_docx(), _hostile_document(doctype, "host: &e;"))


def billion_laughs_docx() -> bytes:
    entities = ['<!ENTITY l0 "ha">'] + [f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10)]
    doctype = f"<!DOCTYPE w:document [{''.join(entities)}]>"
    return with_document_xml(valve_docx(), _hostile_document(doctype, "&l9;"))


def zip_bomb_docx(size: int = 64 << 20) -> bytes:
    """A DOCX with a member of `size` zero bytes, compressed about a thousandfold."""
    return rezip(valve_docx(), add={"word/media/padding.bin": bytes(size)})


def encrypted_office() -> bytes:
    """What an encrypted DOCX/PPTX is: an OLE compound file, not a ZIP."""
    return OLE_MAGIC + bytes(4096 - len(OLE_MAGIC))


def deck_pptx() -> bytes:
    """A quarterly review deck: titled and untitled slides, bullets, text boxes, a group, a table, notes."""
    import pptx
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches

    deck = pptx.Presentation()
    properties = deck.core_properties
    properties.title = "Quarterly Review"
    properties.author = "Grace Hopper"
    properties.created = CREATED
    properties.modified = MODIFIED

    slide = deck.slides.add_slide(deck.slide_layouts[0])
    slide.shapes.title.text = "Quarterly Review"
    slide.placeholders[1].text = "Q3 2024 results"

    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Revenue"
    body = slide.placeholders[1].text_frame
    body.text = "Revenue grew 12%"
    sub = body.add_paragraph()
    sub.text = "Europe led the growth"
    sub.level = 1
    slide.shapes.add_textbox(Inches(1), Inches(6.8), Inches(6), Inches(0.5)).text_frame.text = "Source: finance team"
    banner = slide.shapes.add_textbox(Inches(6), Inches(0.1), Inches(3), Inches(0.4)).text_frame
    banner.text = "Draft"
    slide.notes_slide.notes_text_frame.text = "Mention the new contract.\nThank the sales team."

    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Regional table"
    table = slide.shapes.add_table(3, 3, Inches(0.5), Inches(2), Inches(8), Inches(1.5)).table
    for r, values in enumerate([["Region", "Q2", "Q3"], ["Europe", "1.2", "1.5"], ["Asia | Pacific", "0.8", ""]]):
        for c, value in enumerate(values):
            table.cell(r, c).text = value
    table.cell(1, 2).merge(table.cell(2, 2))
    group = slide.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(5), Inches(5), Inches(2), Inches(0.5)).text_frame.text = "Right note"
    group.shapes.add_textbox(Inches(1), Inches(5), Inches(2), Inches(0.5)).text_frame.text = "Left note"

    slide = deck.slides.add_slide(deck.slide_layouts[6])
    slide.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(1)).text_frame.text = "A slide without a title"
    slide.shapes.add_picture(io.BytesIO(png()), Inches(1), Inches(3))
    chart_data = CategoryChartData()
    chart_data.categories = ["Q2", "Q3"]
    chart_data.add_series("Revenue", (1.2, 1.5))
    slide.shapes.add_chart(XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(4), Inches(3), Inches(4), Inches(3), chart_data)
    return _save(deck)


DECK_SLIDES = [
    "## Quarterly Review\n\nQ3 2024 results",
    "## Revenue\n\nDraft\n\n- Revenue grew 12%\n  - Europe led the growth\n\nSource: finance team\n\n"
    "Notes: Mention the new contract.\nThank the sales team.",
    "## Regional table\n\n| Region | Q2 | Q3 |\n|---|---|---|\n| Europe | 1.2 | 1.5 |\n| Asia \\| Pacific | 0.8 | 1.5 |"
    "\n\nLeft note\n\nRight note",
    "## Slide 4\n\nA slide without a title",
]


def slides_pptx(count: int, bullets: int = 5) -> bytes:
    """A deck of `count` title-and-content slides, for limits and speed."""
    import pptx

    deck = pptx.Presentation()
    for number in range(1, count + 1):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Topic {number}"
        frame = slide.placeholders[1].text_frame
        frame.text = f"Point 0 of topic {number}"
        for item in range(1, bullets):
            frame.add_paragraph().text = f"Point {item} of topic {number}"
        slide.notes_slide.notes_text_frame.text = f"Speaker notes for topic {number}."
    return _save(deck)


def solar_pptx() -> bytes:
    """A short deck for the end-to-end test."""
    import pptx

    deck = pptx.Presentation()
    deck.core_properties.title = "Solar farm"
    slide = deck.slides.add_slide(deck.slide_layouts[0])
    slide.shapes.title.text = "Solar farm"
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Panel cleaning"
    slide.placeholders[
        1
    ].text_frame.text = (
        "Clean the photovoltaic panels with deionised water every quarter to keep the inverter yield high."
    )
    slide.notes_slide.notes_text_frame.text = "Dust storms double the cleaning rate."
    return _save(deck)


ODF_NAMESPACES = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
    'xmlns:xlink="http://www.w3.org/1999/xlink" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"'
)
ODT_MIMETYPE = "application/vnd.oasis.opendocument.text"
ODP_MIMETYPE = "application/vnd.oasis.opendocument.presentation"


def odf(mimetype: str, body: str, meta: str = "", manifest_extra: str = "", doctype: str = "") -> bytes:
    """An OpenDocument package written by hand: mimetype first and stored, then manifest, content and meta."""
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/>'
        f'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">{manifest_extra}'
        "</manifest:file-entry></manifest:manifest>"
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?>{doctype}'
        f'<office:document-content {ODF_NAMESPACES} office:version="1.3"><office:body>{body}</office:body>'
        "</office:document-content>"
    )
    meta_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {ODF_NAMESPACES}>'
        f"<office:meta>{meta}</office:meta></office:document-meta>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), mimetype, compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", manifest)
        archive.writestr("content.xml", content)
        archive.writestr("meta.xml", meta_xml)
    return buffer.getvalue()


ODT_META = (
    "<dc:title>Harbour Survey 2024</dc:title><meta:initial-creator>Ada Lovelace</meta:initial-creator>"
    "<dc:creator>Someone Else</dc:creator><meta:creation-date>2024-03-01T09:30:00</meta:creation-date>"
    "<dc:date>2024-03-02T17:05:00</dc:date><dc:subject>Tides</dc:subject>"
    "<meta:keyword>harbour</meta:keyword><meta:keyword>tides</meta:keyword>"
)


def report_odt() -> bytes:
    """The survey report as LibreOffice would store it, with the structures the ODT reader keeps."""
    body = (
        "<office:text><text:sequence-decls/>"
        "<text:table-of-content><text:index-body><text:p>Introduction 1</text:p></text:index-body>"
        "</text:table-of-content>"
        '<text:h text:outline-level="1">Introduction</text:h>'
        '<text:p>The harbour has  three<text:s text:c="2"/>piers<text:note text:note-class="footnote">'
        "<text:note-citation>1</text:note-citation><text:note-body><text:p>Measured at low tide.</text:p>"
        "</text:note-body></text:note>.<office:annotation><text:p>a comment</text:p></office:annotation></text:p>"
        "<text:p>First line<text:line-break/>second line</text:p>"
        "<text:p>See the box.<draw:frame><draw:text-box><text:p>Text box: built in 1850.</text:p></draw:text-box>"
        '</draw:frame><draw:frame><draw:image xlink:href="Pictures/x.png"/></draw:frame></text:p>'
        "<text:tracked-changes><text:changed-region><text:deletion><text:p>removed words</text:p></text:deletion>"
        "</text:changed-region></text:tracked-changes>"
        '<text:h text:outline-level="2">Piers</text:h>'
        "<text:list><text:list-item><text:p>Pier A</text:p></text:list-item>"
        "<text:list-item><text:p>Pier B</text:p><text:list><text:list-item><text:p>Pier B east arm</text:p>"
        "</text:list-item></text:list></text:list-item></text:list>"
        '<text:h text:outline-level="2">Tide table</text:h>'
        "<table:table><table:table-column/><table:table-header-rows><table:table-row>"
        "<table:table-cell><text:p>Pier</text:p></table:table-cell><table:table-cell><text:p>Depth</text:p>"
        "</table:table-cell><table:table-cell><text:p>Notes</text:p></table:table-cell></table:table-row>"
        "</table:table-header-rows>"
        '<table:table-row><table:table-cell><text:p>A</text:p></table:table-cell><table:table-cell table:number-rows-spanned="2">'
        "<text:p>4.5</text:p></table:table-cell><table:table-cell><text:p>sandy | soft</text:p></table:table-cell>"
        "</table:table-row>"
        "<table:table-row><table:table-cell><text:p>B</text:p></table:table-cell><table:covered-table-cell/>"
        '<table:table-cell><text:p>rocky</text:p></table:table-cell><table:table-cell table:number-columns-repeated="1000"/>'
        "</table:table-row>"
        '<table:table-row><table:table-cell table:number-columns-spanned="2"><text:p>C (closed)</text:p>'
        "</table:table-cell><table:covered-table-cell/><table:table-cell/></table:table-row>"
        '<table:table-row table:number-rows-repeated="100000"><table:table-cell table:number-columns-repeated="5"/>'
        "</table:table-row></table:table>"
        '<text:section><text:h text:outline-level="1">Appendix</text:h><text:p># Sources are listed here.</text:p>'
        "</text:section></office:text>"
    )
    return odf(ODT_MIMETYPE, body, ODT_META)


ODT_TEXT = """\
# Introduction

The harbour has three  piers[^1].

[^1]: Measured at low tide.

First line
second line

See the box.

Text box: built in 1850.

## Piers

- Pier A
- Pier B
  - Pier B east arm

## Tide table

| Pier | Depth | Notes |
|---|---|---|
| A | 4.5 | sandy \\| soft |
| B | 4.5 | rocky |
| C (closed) | C (closed) | |

# Appendix

\\# Sources are listed here."""


def _odp_frame(role: str, y: str, x: str, content: str) -> str:
    role_attribute = f' presentation:class="{role}"' if role else ""
    return f'<draw:frame{role_attribute} svg:x="{x}" svg:y="{y}"><draw:text-box>{content}</draw:text-box></draw:frame>'


def deck_odp() -> bytes:
    """A three-slide Impress deck: titles, outline lists, a group, a table, a footer and notes."""
    slide1 = (
        '<draw:page draw:name="page1">'
        + _odp_frame("title", "1cm", "1cm", "<text:p>Quarterly Review</text:p>")
        + _odp_frame("subtitle", "5cm", "1cm", "<text:p>Q3 2024 results</text:p>")
        + _odp_frame("footer", "18cm", "1cm", "<text:p>Company confidential</text:p>")
        + "</draw:page>"
    )
    slide2 = (
        '<draw:page draw:name="page2">'
        + _odp_frame("", "15cm", "2cm", "<text:p>Source: finance team</text:p>")
        + _odp_frame(
            "outline",
            "4cm",
            "2cm",
            "<text:list><text:list-item><text:p>Revenue grew 12%</text:p><text:list><text:list-item>"
            "<text:p>Europe led the growth</text:p></text:list-item></text:list></text:list-item></text:list>",
        )
        + _odp_frame("title", "1cm", "2cm", "<text:p>Revenue</text:p>")
        + '<draw:g><draw:custom-shape svg:x="10cm" svg:y="12cm"><text:p>Right note</text:p></draw:custom-shape>'
        '<draw:custom-shape svg:x="1cm" svg:y="12cm"><text:p>Left note</text:p></draw:custom-shape></draw:g>'
        '<presentation:notes><draw:page-thumbnail presentation:class="page"/>'
        + _odp_frame("notes", "14cm", "2cm", "<text:p>Mention the new contract.</text:p>")
        + "</presentation:notes></draw:page>"
    )
    slide3 = (
        '<draw:page draw:name="page3"><draw:frame svg:x="1cm" svg:y="3cm"><table:table>'
        "<table:table-row><table:table-cell><text:p>Region</text:p></table:table-cell>"
        "<table:table-cell><text:p>Q3</text:p></table:table-cell></table:table-row>"
        "<table:table-row><table:table-cell><text:p>Europe</text:p></table:table-cell>"
        "<table:table-cell><text:p>1.5</text:p></table:table-cell></table:table-row>"
        '</table:table></draw:frame><draw:frame svg:x="1cm" svg:y="9cm"><draw:image xlink:href="x.png"/></draw:frame>'
        "</draw:page>"
    )
    meta = "<meta:initial-creator>Grace Hopper</meta:initial-creator>"
    return odf(ODP_MIMETYPE, f"<office:presentation>{slide1}{slide2}{slide3}</office:presentation>", meta)


ODP_SLIDES = [
    "## Quarterly Review\n\nQ3 2024 results",
    "## Revenue\n\n- Revenue grew 12%\n  - Europe led the growth\n\nLeft note\n\nRight note\n\nSource: finance team\n\n"
    "Notes: Mention the new contract.",
    "## Slide 3\n\n| Region | Q3 |\n|---|---|\n| Europe | 1.5 |",
]
