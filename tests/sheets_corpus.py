"""Spreadsheets and delimited files for the parser tests, generated here: openpyxl writes the
ordinary workbooks; the hostile and formula-cache cases are SpreadsheetML written by hand."""

from __future__ import annotations

import datetime
import io
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"


def report_xlsx() -> bytes:
    """Sales figures, a sheet whose table starts at C3 under a title, a hidden sheet, a chart sheet, an empty sheet."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    book = Workbook()
    sales = book.active
    sales.title = "Sales"
    sales.append(["Region", "Month", "Units", "Revenue", "Note"])
    sales.append(["North", datetime.date(2024, 1, 31), 120, 1534.5, "pipe | inside"])
    sales.append(["South", datetime.datetime(2024, 2, 29, 13, 45), 80, 999.99, "two\nlines"])
    sales.append(["East", datetime.date(2024, 3, 31), 0, 0.1, True])
    sales.append([])
    sales.append([None, None, None, None, None])
    staff = book.create_sheet("Staff list")
    staff["C3"] = "Staff on call"
    staff["C5"], staff["D5"], staff["F5"] = "Name", "Phone", "Since"
    staff["C6"], staff["D6"], staff["F6"] = "Ada", "+44 20 7946 0000", datetime.date(2019, 5, 1)
    staff["C7"], staff["D7"], staff["F7"] = "Linus", "555-0100", datetime.date(2021, 11, 15)
    lookup = book.create_sheet("Lookup")
    lookup["A1"] = "secret codes"
    lookup.sheet_state = "hidden"
    numbers = book.create_sheet("Numbers")
    numbers.append([2021, 2022, 2023])
    numbers.append([1.5, 2, -3.25])
    book.create_sheet("Empty")
    chart = BarChart()
    chart.add_data(Reference(sales, min_col=3, min_row=1, max_row=4), titles_from_data=True)
    book.create_chartsheet("Chart").add_chart(chart)
    book.properties.title = "Quarterly report"
    book.properties.creator = "Grace Hopper"
    book.properties.subject = "Sales"
    book.properties.keywords = "sales, quarterly"
    book.properties.created = datetime.datetime(2024, 4, 1, 9, 30)
    out = io.BytesIO()
    book.save(out)
    return replace_member(out.getvalue(), "docProps/core.xml", _fixed_modified)


def _fixed_modified(xml: bytes) -> bytes:
    """openpyxl stamps `modified` with the time of saving."""
    return re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2024-04-02T10:00:00Z", xml)


def replace_member(data: bytes, name: str, change) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            content = source.read(info)
            archive.writestr(info.filename, change(content) if info.filename == name else content)
    return out.getvalue()


def macro_xlsm() -> bytes:
    """An .xlsm with a VBA project part that must be ignored."""
    data = xlsx_package(
        {"Macros": _rows([["Task", "Owner"], ["Backup", "Ops"]])},
        extra={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b'Sub AutoOpen() Shell("calc") End Sub'},
        workbook_type="application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    )
    return data


def long_table_xlsx(rows: int) -> bytes:
    """One sheet of `rows` product rows under a five-column header."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Inventory")
    sheet.append(["Product code", "Warehouse", "Quantity on hand", "Unit price", "Supplier"])
    for i in range(rows):
        sheet.append([f"P-{i:05d}", f"Depot {i % 7}", i * 3, round(2.5 + i / 4, 2), f"Supplier {i % 11}"])
    sheet.append(["P-77777", "Depot Zanzibar", 42, 19.5, "Quokka Tools"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _rows(rows: list[list[object]]) -> str:
    """sheetData rows of numbers and inline strings (t="str")."""
    out = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{chr(ord('A') + c)}{r}"
            if value is None:
                continue
            if isinstance(value, str):
                cells.append(f'<c r="{ref}" t="str"><v>{escape(value)}</v></c>')
            else:
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
        out.append(f'<row r="{r}">{"".join(cells)}</row>')
    return "".join(out)


def xlsx_package(
    sheets: dict[str, str],
    shared_strings: str | None = None,
    extra: dict[str, bytes] | None = None,
    workbook_type: str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    prologue: str = "",
) -> bytes:
    """A minimal SpreadsheetML package: each sheet's sheetData XML as given, `prologue` before each
    part's root element (a DOCTYPE), and the sharedStrings part's XML when given."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        _write_package(archive, sheets, shared_strings, workbook_type, prologue)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def _write_package(archive, sheets, shared_strings, workbook_type, prologue, sheet_writer=None) -> None:
    overrides = [f'<Override PartName="/xl/workbook.xml" ContentType="{workbook_type}"/>']
    entries, rels = [], []
    for i, name in enumerate(sheets, start=1):
        overrides.append(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{SHEET_TYPE}"/>')
        entries.append(f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>')
        rels.append(f'<Relationship Id="rId{i}" Type="{REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>')
    if shared_strings is not None:
        overrides.append(
            '<Override PartName="/xl/sharedStrings.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        )
        rels.append(f'<Relationship Id="rIdS" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/>')
        archive.writestr("xl/sharedStrings.xml", prologue + shared_strings)
    archive.writestr(
        "[Content_Types].xml",
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>' + "".join(overrides) + "</Types>",
    )
    archive.writestr(
        "_rels/.rels",
        f'<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" '
        f'Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    )
    archive.writestr(
        "xl/workbook.xml",
        f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheets>{"".join(entries)}</sheets></workbook>',
    )
    archive.writestr(
        "xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{PKG_REL_NS}">{"".join(rels)}</Relationships>'
    )
    for i, (name, rows) in enumerate(sheets.items(), start=1):
        member = f"xl/worksheets/sheet{i}.xml"
        if sheet_writer is not None:
            with archive.open(member, "w", force_zip64=True) as stream:
                sheet_writer(name, stream)
            continue
        archive.writestr(member, f'{prologue}<worksheet xmlns="{MAIN_NS}"><sheetData>{rows}</sheetData></worksheet>')


def formulas_xlsx() -> bytes:
    """Formulas with cached results (one an empty string), and two saved without (as scripts write them)."""
    rows = (
        '<row r="1"><c r="A1" t="str"><v>Item</v></c><c r="B1" t="str"><v>Price</v></c>'
        '<c r="C1" t="str"><v>Total</v></c></row>'
        '<row r="2"><c r="A2" t="str"><v>Pens</v></c><c r="B2"><v>2.5</v></c>'
        '<c r="C2"><f>B2*4</f><v>10</v></c></row>'
        '<row r="3"><c r="A3" t="str"><f>UPPER("ink")</f><v>INK</v></c><c r="B3"><v>7</v></c>'
        '<c r="C3"><f>B3*4</f></c></row>'
        '<row r="4"><c r="A4" t="str"><v>Sum</v></c><c r="B4" t="str"><f>IF(B3&gt;5,"","low")</f><v></v></c>'
        '<c r="C4"><f>SUM(C2:C3)</f></c></row>'
    )
    return xlsx_package({"Prices": rows})


def xxe_xlsx(secret: Path, where: str) -> bytes:
    """An external entity naming `secret`, in the shared strings or in the sheet XML."""
    doctype = f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    if where == "sharedStrings":
        strings = f'<sst xmlns="{MAIN_NS}" count="2" uniqueCount="2"><si><t>Name</t></si><si><t>&xxe;</t></si></sst>'
        rows = '<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c></row>'
        return xlsx_package({"Data": rows}, shared_strings=doctype + strings)
    rows = '<row r="1"><c r="A1" t="str"><v>Name</v></c></row><row r="2"><c r="A2" t="str"><v>&xxe;</v></c></row>'
    return xlsx_package({"Data": rows}, prologue=doctype)


def billion_laughs_xlsx() -> bytes:
    """Nested internal entities in the shared strings: a few hundred bytes expanding to gigabytes."""
    entities = '<!ENTITY a0 "ha">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    strings = f'<sst xmlns="{MAIN_NS}" count="1" uniqueCount="1"><si><t>&a9;</t></si></sst>'
    return xlsx_package(
        {"Data": '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'},
        shared_strings=f'<?xml version="1.0"?><!DOCTYPE sst [{entities}]>' + strings,
    )


def zip_bomb_xlsx() -> bytes:
    """A sheet part of 64 MiB of blanks that deflates to a few dozen KiB."""

    def blanks(name, stream) -> None:
        stream.write(f'<worksheet xmlns="{MAIN_NS}"><sheetData>'.encode())
        chunk = b" " * (1 << 20)
        for _ in range(64):
            stream.write(chunk)
        stream.write(b"</sheetData></worksheet>")

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        _write_package(
            archive,
            {"Data": ""},
            None,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            "",
            sheet_writer=blanks,
        )
    return out.getvalue()


def huge_xlsx(path: Path, rows: int) -> Path:
    """A sheet of `rows` rows (id, name, amount) written straight as XML, streamed into the archive."""

    def write(name, stream) -> None:
        stream.write(f'<worksheet xmlns="{MAIN_NS}"><sheetData>'.encode())
        stream.write(
            b'<row r="1"><c r="A1" t="str"><v>id</v></c><c r="B1" t="str"><v>name</v></c>'
            b'<c r="C1" t="str"><v>amount</v></c></row>'
        )
        batch = 10_000
        for lo in range(2, rows + 2, batch):
            stream.write(
                "".join(
                    f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}" t="str"><v>item {r}</v></c>'
                    f'<c r="C{r}"><v>{r % 997}.5</v></c></row>'
                    for r in range(lo, min(lo + batch, rows + 2))
                ).encode()
            )
        stream.write(b"</sheetData></worksheet>")

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        _write_package(
            archive,
            {"Big": ""},
            None,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            "",
            sheet_writer=write,
        )
    return path


ENCRYPTED_XLSX = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + b"EncryptionInfo EncryptedPackage"
CSV_AS_XLSX = b"name,amount\nwidget,3\n"

SALES_CSV = (
    "Region;Month;Units;Revenue\r\n"
    "Zürich;2023-12-31;5;10\r\n"
    "North;2024-01-31;120;1534,50\r\n"
    'South;2024-02-29;80;"999,99"\r\n'
    '"West; coast";2024-03-31;7;"12"\r\n'
    "\r\n"
).encode("cp1252")
TSV = b'code\tdescription\tqty\nA-1\tbolts | nuts\t40\nA-2\t"quoted"\t5\n'
PIPE_CSV = b"1|2|3\n4|5|6\n7|8|9\n"
MULTILINE_CSV = 'id,comment\n1,"first line\nsecond line"\n2,"Zoë said ""hi"""\n'.encode()
CSV_WITH_NUL = b"name,amount\nwidget,3\n" + b"\x00" * 4096
"""The NUL padding a crashed writer leaves at the end of a file."""


def csv_with_huge_field() -> bytes:
    """A header, one good row, then a quoted field of 10 MB."""
    return b'name,notes\nfirst,short\nsecond,"' + b"x" * (10 * 1000 * 1000) + b'"\nthird,after\n'


def long_csv(rows: int) -> bytes:
    lines = ["ticket,customer,status,opened"]
    lines += [
        f"T-{i:05d},Customer {i % 13},{'open' if i % 3 else 'closed'},2024-05-{1 + i % 28:02d}" for i in range(rows)
    ]
    lines.append("T-99999,Marmalade Aviation,escalated,2024-06-01")
    return ("\n".join(lines) + "\n").encode()
