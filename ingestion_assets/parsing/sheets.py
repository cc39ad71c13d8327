"""Spreadsheets (XLSX, XLSM): each visible worksheet a page, a `## <sheet name>` heading and its cells as one Markdown table.

What is read, and how:
- openpyxl reads the package (workbook, sheet list, shared strings, styles, properties) without
  loading any sheet; each sheet's XML is then streamed with expat, cell by cell: memory stays
  bounded by the cells kept, and a document stops at `MAX_CELLS` table cells ("truncated at N rows"
  warning; sheets after that point are not read). A sheet XML that declares a DTD is refused
  (no entity is ever expanded). Macros are never run: VBA parts are not read.
- Cells are the values the file stores: the cached result of a formula, never its text (a formula
  saved without a result, as scripts write them, becomes an empty cell and a warning); numbers as
  written in the file, without their display format (0.25 shown as 25% stays 0.25); cells with a
  date format as ISO 8601 dates and times; booleans as TRUE/FALSE; error values as written (#DIV/0!).
- Empty rows and columns (leading, trailing and in between) are dropped. Up to three leading rows
  with a single value (a sheet title above a wider table) become lines before the table.
- The header: the first remaining row, when all its values are text (no number, date or boolean)
  and it leaves at most one of the table's columns empty (a blank corner above row labels);
  otherwise the table gets the column letters as its header and that row is data.
- Hidden and very hidden sheets are skipped with a warning naming them (they hold lookups and
  scratch data, not what a reader sees); chart, dialog and macro sheets are skipped with a warning.
- The title is the workbook's title property, else the file name: sheet names are not titles.
"""

from __future__ import annotations

import datetime
import io
import re
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO

from ingestion_assets.parsing.containers import open_zip
from ingestion_assets.parsing.document import PAGE_SEPARATOR, ParsedDocument, ParseError, ParseLimits
from ingestion_assets.parsing.markdown import markdown_sections

MAX_CELLS = 1_000_000
"""Table cells (rows x columns) kept per document; the rest of a larger document is not read."""
MAX_SHARED_STRINGS = 100 << 20
"""The most the shared strings part may expand to: openpyxl holds the whole table in memory."""
MAX_CAPTION_ROWS = 3
_READ_BYTES = 1 << 16
_CELL_REF = re.compile(r"([A-Z]{1,3})\d*")


@dataclass
class CellBudget:
    """Table cells left for the rest of a document."""

    left: int = MAX_CELLS


@dataclass
class Grid:
    """A table's non-empty rows as they stream in, within a document's cell budget.

    A row is kept as (its columns, its non-empty cell texts joined by " | "): rows of the same
    columns share one tuple. `text` says, for the first few rows, whether all values are text.
    """

    budget: CellBudget
    rows: list[tuple[tuple[int, ...], str]] = field(default_factory=list)
    columns: frozenset[int] = frozenset()
    layouts: dict[tuple[int, ...], tuple[int, ...]] = field(default_factory=dict)
    text: list[bool] = field(default_factory=list)
    truncated: bool = False

    def add(self, cells: Sequence[tuple[int, str, bool]]) -> bool:
        """Keep a row of (column, text, is text) cells; False, and the row not kept, once the budget is spent."""
        kept = [cell for cell in cells if cell[1]]
        if not kept:
            return True
        layout = tuple(column for column, _, _ in kept)
        known = self.layouts.get(layout)
        columns = self.columns if known else self.columns.union(layout)
        if (len(self.rows) + 1) * len(columns) > self.budget.left:
            self.truncated = True
            return False
        if known is None:
            known = self.layouts[layout] = layout
        self.columns = columns
        self.rows.append((known, " | ".join(value for _, value, _ in kept)))
        if len(self.text) <= MAX_CAPTION_ROWS:
            self.text.append(all(is_text for _, _, is_text in kept))
        return True

    def markdown(self, label: Callable[[int], str]) -> str:
        """Caption lines, then one Markdown table; `label(column)` names the columns when no row is a header."""
        self.budget.left -= len(self.rows) * len(self.columns)
        rows = self.rows
        captions: list[str] = []
        while (
            len(captions) < MAX_CAPTION_ROWS
            and len(rows) > 1
            and len(rows[0][0]) == 1
            and any(len(layout) > 1 for layout, _ in rows[1 : MAX_CAPTION_ROWS + 2])
        ):
            captions.append(rows[0][1])
            rows = rows[1:]
        if not rows:
            return "\n\n".join(captions)
        columns = sorted({column for layout in {layout for layout, _ in rows} for column in layout})
        first_columns, first = rows[0]
        if self.text[len(captions)] and len(columns) - len(first_columns) <= 1:
            header = _cells(columns, first_columns, first)
            rows = rows[1:]
        else:
            header = [label(column) for column in columns]
        lines = [_line(header), "|" + "---|" * len(columns)]
        full = tuple(columns)
        for layout, joined in rows:
            lines.append(f"| {joined} |" if layout == full else _line(_cells(columns, layout, joined)))
        return "\n\n".join([*captions, "\n".join(lines)])


def _cells(columns: list[int], layout: tuple[int, ...], joined: str) -> list[str]:
    values = dict(zip(layout, joined.split(" | "), strict=True))
    return [values.get(column, "") for column in columns]


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def cell_text(value: object) -> tuple[str, bool]:
    """A cell value as Markdown table cell text, and whether it is text (not a number, date or boolean)."""
    if value is None:
        return "", False
    if isinstance(value, str):
        return escape_cell(value), True
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE"), False
    if isinstance(value, int):
        return str(value), False
    if isinstance(value, float):
        return (str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)), False
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time():
            return value.date().isoformat(), False
        return value.isoformat(sep=" ", timespec="seconds"), False
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat(), False
    return escape_cell(str(value)), False


def escape_cell(text: str) -> str:
    """Cell text on one line, whitespace runs as one space, `|` escaped."""
    return " ".join(text.replace("|", "\\|").split())


def column_letter(column: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_number(letters: str) -> int:
    """A -> 1, AA -> 27."""
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def assemble(fmt: str, pages: list[str], warnings: list[str], title: str, metadata: dict[str, str]) -> ParsedDocument:
    """The document of `pages` joined by PAGE_SEPARATOR, a page starting at each."""
    offsets, position = [], 0
    for page in pages:
        offsets.append(position)
        position += len(page) + len(PAGE_SEPARATOR)
    text = PAGE_SEPARATOR.join(pages)
    return ParsedDocument(fmt, text, offsets or [0], warnings, title, markdown_sections(text), metadata=metadata)


def too_slow(limits: ParseLimits, where: str) -> ParseError:
    return ParseError(
        f"too slow: parsing took over {limits.max_seconds:g} s (INGEST_MAX_PARSE_SECONDS) and stopped at {where}"
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _names(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


def parse(key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    started = time.monotonic()
    fmt = PurePosixPath(key).suffix.lower().lstrip(".") or "xlsx"
    what = fmt.upper()
    open_zip(data, what).close()  # ZIP bombs, encryption and other content are refused before openpyxl reads
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _read(key, fmt, data, limits, started)
    except ParseError:
        raise
    except SyntaxError as exc:  # the XML parsers' errors
        raise ParseError(f"corrupt {what} file: invalid XML: {exc}") from exc
    except Exception as exc:  # openpyxl reports a broken part as whatever its reader raised
        raise ParseError(f"corrupt {what} file: {type(exc).__name__}: {exc}") from exc


def _read(key: str, fmt: str, data: bytes, limits: ParseLimits, started: float) -> ParsedDocument:
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet
    from openpyxl.xml.constants import ARC_CORE, SHARED_STRINGS

    reader = ExcelReader(io.BytesIO(data), read_only=True, keep_vba=False, data_only=True, keep_links=False)
    archive = reader.archive
    reader.read_manifest()
    strings = reader.package.find(SHARED_STRINGS)
    size = archive.getinfo(strings.PartName[1:]).file_size if strings is not None else 0
    if size > MAX_SHARED_STRINGS:
        raise ParseError(
            f"too large: the shared strings expand to {size >> 20} MiB, the limit is {MAX_SHARED_STRINGS >> 20} MiB"
        )
    reader.read_strings()
    reader.read_workbook()
    reader.read_properties()
    apply_stylesheet(archive, reader.wb)
    book = reader.wb
    warnings: list[str] = []
    sheets, hidden, other = [], [], []
    for sheet, rel in reader.parser.find_sheets():
        if not rel.Type.endswith("/worksheet"):
            other.append(sheet.name)
        elif sheet.state in ("hidden", "veryHidden"):
            hidden.append(sheet.name)
        elif rel.target in reader.valid_files:
            sheets.append((sheet.name, rel.target))
    if hidden:
        warnings.append(f"{len(hidden)} hidden sheet(s) skipped: {_names(hidden)}")
    if other:
        warnings.append(f"{len(other)} chart, dialog or macro sheet(s) skipped (no table of values): {_names(other)}")
    if len(sheets) > limits.max_pages:
        raise ParseError(f"too large: {len(sheets)} sheets, the limit is {limits.max_pages} (INGEST_MAX_PAGES)")
    cells = _CellReader(reader.shared_strings, book.epoch, book._date_formats, book._timedelta_formats, limits, started)
    budget = CellBudget()
    pages: list[str] = []
    kept = 0
    for index, (name, part) in enumerate(sheets):
        grid = Grid(budget)
        with archive.open(part) as stream:
            for row in cells.rows(stream, name):
                if not grid.add(row):
                    break
        kept += len(grid.rows)
        table = grid.markdown(column_letter)
        pages.append(f"## {_one_line(name)}" + (f"\n\n{table}" if table else ""))
        if cells.uncomputed:
            warnings.append(
                f"sheet {name!r}: {cells.uncomputed} formula(s) saved without a computed value "
                f"(first {cells.first_uncomputed}) left empty: open and save the file in a spreadsheet program"
            )
        if grid.truncated:
            warnings.append(
                f"sheet {name!r} truncated at {len(grid.rows):,} rows: the limit is {MAX_CELLS:,} table cells per document"
            )
            rest = [later for later, _ in sheets[index + 1 :]]
            if rest:
                warnings.append(f"{len(rest)} sheet(s) not read after the cell limit: {_names(rest)}")
            break
    if not kept:
        warnings.append("no cell values (empty workbook): nothing to search")
    has_properties = ARC_CORE in reader.valid_files
    metadata = _metadata(book.properties) if has_properties else {}
    title = (_one_line(book.properties.title or "") if has_properties else "") or PurePosixPath(key).stem
    return assemble(fmt, pages, warnings, title, metadata)


def _metadata(properties) -> dict[str, str]:
    def iso(value) -> str:
        return value.isoformat() if isinstance(value, datetime.datetime) else ""

    metadata = {
        "author": _one_line(properties.creator or ""),
        "created": iso(properties.created),
        "modified": iso(properties.modified),
        "subject": _one_line(properties.subject or ""),
        "keywords": _one_line(properties.keywords or ""),
    }
    return {key: value for key, value in metadata.items() if value}


class _CellReader:
    """Rows of a worksheet's XML, streamed with expat: each row its (column, text, is text) cells."""

    def __init__(self, shared_strings, epoch, date_styles, duration_styles, limits: ParseLimits, started: float):
        from openpyxl.utils.datetime import from_excel, from_ISO8601

        self.from_excel, self.from_iso = from_excel, from_ISO8601
        self.shared_strings = shared_strings
        self.epoch = epoch
        self.date_styles = {str(style) for style in date_styles}
        self.duration_styles = {str(style) for style in duration_styles}
        self.limits = limits
        self.started = started
        self.uncomputed = 0
        self.first_uncomputed = ""

    def rows(self, stream: IO[bytes], sheet: str) -> Iterator[list[tuple[int, str, bool]]]:
        from xml.parsers import expat

        self.uncomputed = 0
        done: list[list[tuple[int, str, bool]]] = []
        row: list[tuple[int, str, bool]] = []
        text: list[str] = []
        cell = {"type": "n", "style": "0", "value": None, "formula": False}
        at = {"row": 0, "column": 0, "collect": 0, "phonetic": 0}

        def start(name: str, attrs: dict[str, str]) -> None:
            local = name.rpartition("}")[2]
            if local == "c":
                ref = _CELL_REF.match(attrs.get("r", ""))
                at["column"] = column_number(ref.group(1)) if ref else at["column"] + 1
                cell.update(type=attrs.get("t", "n"), style=attrs.get("s", "0"), value=None, formula=False)
                text.clear()
            elif local == "v":
                text.clear()
                at["collect"] += 1
            elif local == "t":
                at["collect"] += 1
            elif local == "f":
                cell["formula"] = True
            elif local == "rPh":
                at["phonetic"] += 1
            elif local == "row":
                row.clear()
                number = attrs.get("r", "")
                at["row"] = int(number) if number.isdigit() else at["row"] + 1
                at["column"] = 0

        def end(name: str) -> None:
            local = name.rpartition("}")[2]
            if local == "v":
                cell["value"] = "".join(text)
                at["collect"] -= 1
            elif local == "t":
                at["collect"] -= 1
            elif local == "rPh":
                at["phonetic"] -= 1
            elif local == "c":
                value = "".join(text) if cell["type"] == "inlineStr" else cell["value"]
                if not value:
                    if cell["formula"] and cell["value"] is None:  # no <v>: never computed, not an empty result
                        if not self.uncomputed:
                            self.first_uncomputed = f"{column_letter(at['column'])}{at['row']}"
                        self.uncomputed += 1
                    return
                row.append((at["column"], *self._cell(cell["type"], cell["style"], value)))
            elif local == "row":
                done.append(list(row))

        def characters(data: str) -> None:
            if at["collect"] and not at["phonetic"]:
                text.append(data)

        parser = expat.ParserCreate(namespace_separator="}")
        parser.buffer_text = True
        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = characters
        parser.StartDoctypeDeclHandler = _refuse_doctype
        try:
            while chunk := stream.read(_READ_BYTES):
                if time.monotonic() - self.started > self.limits.max_seconds:
                    raise too_slow(self.limits, f"row {at['row']:,} of sheet {sheet!r}")
                parser.Parse(chunk, False)
                yield from done
                done.clear()
            parser.Parse(b"", True)
        except expat.ExpatError as exc:
            raise ParseError(f"corrupt sheet {sheet!r}: {exc}") from exc
        yield from done

    def _cell(self, kind: str, style: str, value: str) -> tuple[str, bool]:
        """(text, is text) of a cell's stored value: a number as written, unless its style is a date format."""
        if kind == "n":
            if style in self.date_styles:
                try:
                    return cell_text(self.from_excel(float(value), self.epoch, timedelta=style in self.duration_styles))
                except (OverflowError, ValueError):
                    pass
            return value.strip(), False
        if kind == "s":
            return cell_text(self.shared_strings[int(value)])
        if kind == "b":
            return ("TRUE" if value.strip() in ("1", "true") else "FALSE"), False
        if kind == "d":
            try:
                return cell_text(self.from_iso(value))
            except ValueError:
                return escape_cell(value), False
        return escape_cell(value), kind != "e"


def _refuse_doctype(*_: object) -> None:
    raise ParseError("refused: the sheet XML declares a DTD (entities are never expanded in spreadsheets)")
