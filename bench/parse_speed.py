#!/usr/bin/env python
"""Parse speed per format, OCR speed, and PDF heading precision and recall against a baseline parser, as tables.

Speed: every format of the registry for which a generator exists in `tests/*_corpus.py` (a row is
skipped when its generator or its suffix is missing), each in a fresh process: the document is
parsed repeatedly for at least `--seconds` per round, and the table shows pages (slides, sheets)
per second, the median of `--repeats` rounds, and the process's peak RSS against its RSS after the
imports. OCR rows parse scans of `tests/scan_corpus.py` once per round (with `INGEST_OCR=auto`
limits; skipped without the tesseract program).

Headings: the PDFs of `tests/scan_corpus.heading_cases()` (with and without an outline, headings
known) are parsed by the current `pdf.py` and by the baseline `pdf.py` of a git revision (`--baseline`,
default HEAD); a found heading is right when its text is one of the document's headings, and its
level is scored among those. The OCR of the baseline is timed on the same upright scan.

Hostile files (`--hostile` for these alone): a million-row sheet, ZIP and entity bombs, a message
with large attachments, a pixel bomb and a 2,000-page PDF, each parsed once in a fresh process,
with its outcome and the process's own peak RSS.

Usage::

    python bench/parse_speed.py [--repeats 3] [--seconds 0.5] [--baseline HEAD] [--only pdf,docx] [--hostile]
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ROWS: list[tuple[str, str, str, str, tuple]] = [
    # (label, file name, module under tests/, generator, arguments)
    ("pdf: paper", "paper.pdf", "scan_corpus", "paper", ()),
    ("pdf: manual with outline", "manual.pdf", "scan_corpus", "manual_with_outline", ()),
    ("pdf: one line a page", "big.pdf", "hostile_corpus", "big_pdf", (200,)),
    ("docx: manual, 40 sections", "manual.docx", "office_corpus", "manual_docx", ()),
    ("docx: report", "report.docx", "office_corpus", "report_docx", ()),
    ("pptx: 50 slides", "slides.pptx", "office_corpus", "slides_pptx", (50,)),
    ("odt: report", "report.odt", "office_corpus", "report_odt", ()),
    ("odp: deck", "deck.odp", "office_corpus", "deck_odp", ()),
    ("xlsx: report", "report.xlsx", "sheets_corpus", "report_xlsx", ()),
    ("xlsx: 5000 rows", "long.xlsx", "sheets_corpus", "long_table_xlsx", (5000,)),
    ("csv: 5000 rows", "long.csv", "sheets_corpus", "long_csv", (5000,)),
    ("eml: report", "report.eml", "mail_corpus", "report_message", ()),
    ("txt: UTF-16", "lamp.txt", "mail_corpus", "utf16_text", ()),
]
OCR_ROWS: list[tuple[str, str, str, str, tuple]] = [
    ("OCR pdf: 3 upright scans", "scan.pdf", "scan_corpus", "scanned_pdf", ((0, 0, 0),)),
    ("OCR pdf: scans at 90/180/270", "turned.pdf", "scan_corpus", "scanned_pdf", ((90, 180, 270),)),
    ("OCR pdf: 2 full pages", "dense.pdf", "scan_corpus", "dense_scanned_pdf", ()),
    ("OCR png", "scan.png", "scan_corpus", "image", ("png",)),
    ("OCR jpeg, upside down", "scan.jpg", "scan_corpus", "image", ("jpeg", 180)),
    ("OCR tiff: 3 pages", "notices.tiff", "scan_corpus", "multipage_tiff", ()),
]
HOSTILE_ROWS: list[tuple[str, str, str]] = [
    # (label, file name, Python expression building the bytes from the tests' corpora)
    ("xlsx: 1,000,000 rows", "huge.xlsx", "sheets_corpus.huge_xlsx(Path(tmp) / 'huge.xlsx', 1_000_000).read_bytes()"),
    ("xlsx: entity bomb", "laughs.xlsx", "sheets_corpus.billion_laughs_xlsx()"),
    ("xlsx: ZIP bomb", "bomb.xlsx", "sheets_corpus.zip_bomb_xlsx()"),
    ("docx: ZIP bomb", "bomb.docx", "office_corpus.zip_bomb_docx()"),
    ("docx: entity bomb", "laughs.docx", "office_corpus.billion_laughs_docx()"),
    ("eml: 20 MB attachments", "logs.eml", "mail_corpus.huge_attachment(20)"),
    ("png: 12,000 x 12,000 pixels", "bomb.png", "scan_corpus.pixel_bomb_png()"),
    ("pdf: 2,000 pages", "big.pdf", "hostile_corpus.big_pdf(2000)"),
]
HOSTILE_CHILD = """
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from ingestion_assets.parsing import ParseError, ParseLimits, parse_bytes
from tests import hostile_corpus, mail_corpus, office_corpus, scan_corpus, sheets_corpus
with tempfile.TemporaryDirectory() as tmp:
    data = {expression}


def peak_mib():
    with open("/proc/self/status") as status:  # this process's own peak (ru_maxrss survives exec)
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) / 1024


before, started = peak_mib(), time.perf_counter()
try:
    doc = parse_bytes({name!r}, data, ParseLimits(ocr="auto"))
    outcome = f"{{doc.page_count}} page(s), {{len(doc.text):,}} chars" + (f"; {{doc.warnings[0]}}" if doc.warnings else "")
except ParseError as exc:
    outcome = f"ParseError: {{exc}}"
print(json.dumps({{"seconds": time.perf_counter() - started, "outcome": outcome, "rss": peak_mib(),
                  "base": before, "bytes": len(data)}}))
"""
UNITS = {"pptx": "slides", "odp": "slides", "xlsx": "sheets", "csv": "sheets"}
CHILD = """
import json, resource, statistics, sys, time
sys.path.insert(0, {repo!r})
from ingestion_assets.parsing import ParseLimits, parse_bytes
from tests import {module} as corpus
data = getattr(corpus, {function!r})(*{args!r})
data = getattr(data, "pdf", data)
data = data[0] if isinstance(data, tuple) else data
limits = ParseLimits(ocr={ocr!r})
imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
doc = parse_bytes({name!r}, data, limits)
rates = []
for _ in range({repeats}):
    count, started = 0, time.perf_counter()
    while True:
        doc = parse_bytes({name!r}, data, limits)
        count += 1
        elapsed = time.perf_counter() - started
        if elapsed >= {seconds}:
            break
    rates.append(count * doc.page_count / elapsed)
print(json.dumps({{
    "rate": statistics.median(rates), "pages": doc.page_count, "ocr_pages": doc.ocr_pages, "bytes": len(data),
    "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "base": imported / 1024,
}}))
"""


def _child(row: tuple, repeats: int, seconds: float, ocr: str) -> dict | str:
    label, name, module, function, args = row
    from ingestion_assets.parsing import supported_suffixes

    if Path(name).suffix not in supported_suffixes():
        return f"no parser for {Path(name).suffix}"
    if not (REPO / "tests" / f"{module}.py").exists():
        return f"tests/{module}.py is missing"
    if not hasattr(importlib.import_module(f"tests.{module}"), function):
        return f"tests/{module}.py has no {function}()"
    code = CHILD.format(
        repo=str(REPO),
        module=module,
        function=function,
        args=args,
        name=name,
        ocr=ocr,
        repeats=repeats,
        seconds=seconds,
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    if done.returncode:
        return "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    return json.loads(done.stdout)


def speed_table(repeats: int, seconds: float, only: set[str]) -> None:
    print(f"Parse speed: median of {repeats} rounds of at least {seconds:g} s; a fresh process per row")
    print(
        f"| {'document':34} | {'size':>9} | {'units':>6} | {'units/s':>10} | {'peak RSS':>9} | {'after imports':>13} |"
    )
    print(f"|{'-' * 36}|{'-' * 11}|{'-' * 8}|{'-' * 12}|{'-' * 11}|{'-' * 15}|")
    rows = [(row, "off") for row in ROWS]
    if shutil.which("tesseract"):
        rows += [(row, "auto") for row in OCR_ROWS]
    else:
        print("| (OCR rows skipped: the tesseract program is not installed) |")
    for row, ocr in rows:
        label, name = row[0], row[1]
        if only and Path(name).suffix.lstrip(".") not in only and not (ocr == "auto" and "ocr" in only):
            continue
        result = _child(row, repeats, 0.0 if ocr == "auto" else seconds, ocr)
        if isinstance(result, str):
            print(f"| {label:34} | skipped: {result}")
            continue
        unit = UNITS.get(Path(name).suffix.lstrip("."), "pages")
        size = f"{result['bytes'] / 1024:.0f} KiB"
        print(
            f"| {label:34} | {size:>9} | {result['pages']:>6} | {result['rate']:>10.1f} | "
            f"{result['rss']:>6.0f} MB | {result['base']:>10.0f} MB |  {unit}/s"
        )


def hostile_table() -> None:
    """Each hostile file parsed once in a fresh process: the outcome, the time and the peak RSS."""
    print()
    print("Hostile files: one parse each in a fresh process; peak RSS is the process's own (VmHWM)")
    print(f"| {'file':28} | {'size':>9} | {'seconds':>7} | {'peak RSS':>9} | {'before':>7} | outcome")
    print(f"|{'-' * 30}|{'-' * 11}|{'-' * 9}|{'-' * 11}|{'-' * 9}|{'-' * 9}")
    for label, name, expression in HOSTILE_ROWS:
        code = HOSTILE_CHILD.format(repo=str(REPO), expression=expression, name=name)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
        if done.returncode:
            print(f"| {label:28} | failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
            continue
        result = json.loads(done.stdout)
        size = f"{result['bytes'] / 1024:.0f} KiB"
        print(
            f"| {label:28} | {size:>9} | {result['seconds']:>7.2f} | {result['rss']:>6.0f} MB | "
            f"{result['base']:>4.0f} MB | {result['outcome'][:110]}"
        )


def baseline_pdf(revision: str) -> types.ModuleType | None:
    """`ingestion_assets/parsing/pdf.py` as it was at `revision`, loaded beside the current one."""
    try:
        source = subprocess.run(
            ["git", "show", f"{revision}:ingestion_assets/parsing/pdf.py"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("baseline_pdf")
    sys.modules[module.__name__] = module
    exec(compile(source, f"{revision}:pdf.py", "exec"), module.__dict__)
    return module


def heading_scores(found: list[tuple[int, str]], truth: list[tuple[int, str]]) -> tuple[int, int, int, int]:
    """(right, found, true, right with the right level)."""
    levels = {title: level for level, title in truth}
    right = [(level, title) for level, title in found if title in levels]
    return len(right), len(found), len(truth), sum(1 for level, title in right if levels[title] == level)


def headings_table(revision: str) -> None:
    from ingestion_assets.parsing import ParseLimits, markdown_sections
    from ingestion_assets.parsing import pdf as current
    from tests import scan_corpus

    baseline = baseline_pdf(revision)
    parsers = [("now", current)] + ([(revision, baseline)] if baseline else [])
    print()
    print(f"PDF headings: precision, recall and right level, the current pdf.py against {revision}'s")
    print(f"| {'document':16} | {'outline':7} | {'parser':6} | {'precision':>9} | {'recall':>6} | {'level':>5} |")
    print(f"|{'-' * 18}|{'-' * 9}|{'-' * 8}|{'-' * 11}|{'-' * 8}|{'-' * 7}|")
    totals = {label: [0, 0, 0, 0] for label, _ in parsers}
    for case in scan_corpus.heading_cases():
        for label, module in parsers:
            doc = module.parse(f"{case.name}.pdf", case.pdf, ParseLimits())
            found = [(s.level, s.title) for s in markdown_sections(doc.text)]
            scores = heading_scores(found, list(case.headings))
            totals[label] = [a + b for a, b in zip(totals[label], scores, strict=True)]
            print(_score_row(case.name, "yes" if case.outline else "no", label, scores))
    for label, scores in totals.items():
        print(_score_row("all", "", label, tuple(scores)))


def _score_row(name: str, outline: str, label: str, scores: tuple) -> str:
    right, found, true, level = scores
    precision = right / found if found else 1.0
    return (
        f"| {name:16} | {outline:7} | {label:6} | {precision:>9.2f} | {right / true:>6.2f} | "
        f"{level / right if right else 0:>5.2f} |"
    )


def ocr_comparison(revision: str, repeats: int) -> None:
    """Scanned pages per second, the current OCR (the tesseract program, orientation detected) against
    the baseline's."""
    if not shutil.which("tesseract"):
        return
    from ingestion_assets.parsing import ParseLimits
    from ingestion_assets.parsing import pdf as current
    from tests import scan_corpus

    baseline = baseline_pdf(revision)
    parsers = [("now", current)] + ([(revision, baseline)] if baseline else [])
    print()
    print(f"OCR: pages/s, median of {repeats}, this process; and whether the text came out right")
    scans = [
        ("3 short upright pages", scan_corpus.scanned_pdf((0, 0, 0)), scan_corpus.SCAN_TEXT),
        ("3 short pages at 90/180/270", scan_corpus.scanned_pdf((90, 180, 270)), scan_corpus.SCAN_TEXT),
        ("2 full A4 pages", scan_corpus.dense_scanned_pdf(), scan_corpus.SENTENCES[0]),
    ]
    for name, data, expected in scans:
        for label, module in parsers:
            rates = []
            for _ in range(repeats):
                started = time.perf_counter()
                doc = module.parse("scan.pdf", data, ParseLimits(ocr="on"))
                rates.append(doc.ocr_pages / (time.perf_counter() - started))
            pages = doc.page_count
            wanted = " ".join(expected.split())
            right = sum(1 for start, end in _pages(doc) if wanted in " ".join(doc.text[start:end].split()))
            print(f"  {name:28} {label:6} {statistics.median(rates):6.2f} pages/s, {right} of {pages} pages right")


def _pages(doc) -> list[tuple[int, int]]:
    ends = [*doc.page_offsets[1:], len(doc.text)]
    return list(zip(doc.page_offsets, ends, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.5, help="the least time of one round of one format")
    parser.add_argument("--baseline", default="HEAD", help="git revision whose pdf.py is the baseline")
    parser.add_argument("--only", default="", help="comma-separated suffixes (pdf,docx,...) and/or 'ocr'")
    parser.add_argument("--no-speed", action="store_true", help="headings and OCR comparison only")
    parser.add_argument("--hostile", action="store_true", help="only the hostile files: outcome and peak RSS")
    options = parser.parse_args()
    if options.hostile:
        hostile_table()
        return
    if not options.no_speed:
        speed_table(options.repeats, options.seconds, {s for s in options.only.split(",") if s})
        hostile_table()
    headings_table(options.baseline)
    ocr_comparison(options.baseline, options.repeats)


if __name__ == "__main__":
    main()
