"""CSV and TSV: the rows as one Markdown table on one page, the delimiter sniffed among `,;\\t|` (tab for .tsv).

The header rule and cell limit are the spreadsheets' (`sheets.py`); a value that looks like a
number or a date counts as data, not text, when telling a header row from a data row. A field
over the csv module's field size limit (usually an unclosed quote swallowing the rest of the file)
stops the table there with a warning.
"""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import PurePosixPath

from ingestion_assets.parsing.document import ParsedDocument, ParseLimits
from ingestion_assets.parsing.sheets import (
    MAX_CELLS,
    CellBudget,
    Grid,
    assemble,
    column_letter,
    escape_cell,
    too_slow,
)
from ingestion_assets.parsing.text import decode_text

DELIMITERS = ",;\t|"
SNIFF_CHARS = 16 << 10
TIME_CHECK_ROWS = 1000
_DATA = re.compile(
    r"[-+(]?[$€£¥]?\s?\d[\d,. ']*%?\)?|\d{4}-\d\d-\d\d([ T][\d:.]+)?|\d{1,2}[./]\d{1,2}[./]\d{2,4}|true|false",
    re.IGNORECASE,
)


def sniff_delimiter(text: str) -> str:
    """The delimiter of the first lines among DELIMITERS; a comma when they say nothing (one column)."""
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def parse(key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    started = time.monotonic()
    path = PurePosixPath(key)
    suffix = path.suffix.lower()
    text, warnings = decode_text(data)
    delimiter = "\t" if suffix == ".tsv" else sniff_delimiter(text)
    grid = Grid(CellBudget())
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        for count, row in enumerate(reader, start=1):
            if count % TIME_CHECK_ROWS == 0 and time.monotonic() - started > limits.max_seconds:
                raise too_slow(limits, f"line {reader.line_num:,}")
            cells = []
            for column, value in enumerate(row, start=1):
                value = escape_cell(value)
                cells.append((column, value, not _DATA.fullmatch(value)))
            if not grid.add(cells):
                warnings.append(
                    f"truncated at {len(grid.rows):,} rows: the limit is {MAX_CELLS:,} table cells per document"
                )
                break
    except csv.Error as exc:
        warnings.append(
            f"stopped at line {reader.line_num:,}, {len(grid.rows):,} rows read: {exc} (an unclosed quote?)"
        )
    table = grid.markdown(column_letter)
    if not table:
        warnings.append("no text (empty file): nothing to search")
    return assemble(suffix.lstrip(".") or "csv", [table], warnings, path.stem, {})
