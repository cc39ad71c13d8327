#!/usr/bin/env python
"""A deterministic retrieval-evaluation corpus: technical manuals and READMEs, and questions.

Documents about fictional command-line tools and libraries, in six families whose members share
vocabulary on purpose (backup tools all talk about retention, compression and bandwidth; web tools
about timeouts and TLS; job runners about retries), so that a question about one passage of one
manual is hard: the words of the question appear in several documents, the answer in one section of
one of them. Each family also has a handbook or guide that names its tools and covers their shared
topics in many sections, and a few company documents (an overview of the tools, a runbook, an
incident review) name tools of several families: the documents whose chunks crowd out the one a
question about a whole document asks for.

Formats, as they arrive in a real inbox:

- PDF manuals typeset with PyMuPDF: a large bold title, numbered bold headings ("3 Options",
  "3.2 Rounding"), running headers and footers on every page (title, release, page number),
  words hyphenated at line ends, ruled tables, ligature glyphs (U+FB01 "ﬁ", U+FB02 "ﬂ") in some;
- Markdown READMEs with `#` headings, lists, fenced code (whose `#` comments are no headings) and
  GitHub tables;
- HTML pages with <title>, <h1>-<h3>, navigation and footer boilerplate, <dl> and <table>;
- one scanned PDF: a page of text rendered to an image, no text layer (only OCR can read it).

The texts are data in `bench/retrieval_corpus/`: `documents.json` lists the documents in order with
their metadata (the fields of `Doc`) and questions, one Markdown file per document (its path with the
suffix `.md`) holds the body, and `faq.json` the questions and answers of each family. The sections
every manual has (installation, environment, logging, exit status, FAQ, changelog) are added here (not
to the handbooks and guides), with random choices that derive from the seed.

Questions are at two levels. Document-level questions ask for a whole document and come in three
kinds (`DOCUMENT_KINDS`): `descriptive` ("a tool that keeps hourly snapshots and prunes them by
age", in the user's words, long or as short as a search-box query), `named` (the tool's name or a
term only it uses, alone or with a topic its family shares) and `comparative` ("which backup tool,
unlike the others, can write to tape"). Passage-level questions ask for one option, command or table
value and give the answer phrase and the section that holds it. Every question has a `split`:
`tune` for choosing ranking weights, `judge` for judging them (`assign_splits`).

`generate(folder, seed)` writes the files and `<folder>-questions.json` next to the folder (one entry per
question: id, kind, level, split, question, doc_id relative to the corpus root and, for passages, the
answer phrase and the expected section title) and returns that list. The same seed gives
byte-identical files.

Usage::

    python bench/retrieval_corpus.py OUT_DIR [--seed 14]
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).parent / "retrieval_corpus"
FAQ = json.loads((DATA / "faq.json").read_text(encoding="utf-8"))
DOCUMENT_KINDS = ("descriptive", "named", "comparative")
"""Kinds of question about a whole document: what it is for in other words ("a tool that keeps hourly
snapshots"), by its name or a term only it uses, and what sets it apart from its family."""
LEVELS = {"passage": "passage", **dict.fromkeys(DOCUMENT_KINDS, "document")}
SPLITS = ("tune", "judge")
FAMILY_WORDS = {
    "backup": ("repository", "transfer", "retention", "compression", "bandwidth", "snapshot"),
    "numbers": ("locale", "precision", "rounding", "separator", "format", "digits"),
    "logging": ("log file", "event", "buffer", "rotation", "compression", "output"),
    "web": ("upstream", "TLS", "timeout", "header", "client", "connection"),
    "jobs": ("job", "schedule", "retry", "worker", "timeout", "queue"),
    "db": ("database", "replica", "transaction", "backup", "query", "WAL"),
}
CHANGELOG_TEMPLATES = [
    "{term} now also reads its value from the configuration file.",
    "fixed {term} being ignored when given more than once.",
    "clearer error message when {term} gets an invalid value.",
    "the documentation of {term} was rewritten with examples.",
    "{term} is about twice as fast on large inputs.",
    "{term} prints a warning instead of failing when the value is out of range.",
]


@dataclass
class Doc:
    path: str
    title: str
    subtitle: str
    version: str
    ligatures: bool = False
    header_style: int = 0
    library: bool = False
    guide: bool = False
    """A handbook or guide about a whole family: no installation, environment or other tool sections."""
    rng_name: str = ""
    """The name the random choices of the shared sections derive from (default: the tool)."""
    questions: list[dict] = field(default_factory=list)
    blocks: list[tuple] = field(default_factory=list)

    @property
    def fmt(self) -> str:
        return self.path.rsplit(".", 1)[1]

    @property
    def family(self) -> str:
        return self.path.split("/")[0]

    @property
    def tool(self) -> str:
        return self.title.split()[0]


def parse_blocks(text: str) -> list[tuple]:
    """The blocks of a document's Markdown: headings, paragraphs, fenced code, tables, lists,
    definitions (list items `` `term`: description ``) and `{{name}}` for a shared section."""
    blocks: list[tuple] = []
    for i, part in enumerate(re.split(r"^```\n(.*?)\n```$", text, flags=re.M | re.S)):
        if i % 2:
            blocks.append(("code", part))
            continue
        for chunk in filter(None, part.strip("\n").split("\n\n")):
            if chunk.startswith("#"):
                marks, title = chunk.split(" ", 1)
                blocks.append(("h", len(marks), title))
            elif chunk.startswith("{{"):
                blocks.append(("shared", chunk.strip("{}")))
            elif chunk.startswith("|"):
                header, _, *rows = ([c.strip() for c in line[1:-1].split("|")] for line in chunk.splitlines())
                blocks.append(("table", header, rows))
            elif re.match(r"- `[^`]+`: ", chunk):
                items = (" ".join(item.split()) for item in chunk[3:].split("\n- `"))
                blocks.append(("dl", [tuple(item.split("`: ", 1)) for item in items]))
            elif chunk.startswith("- "):
                blocks.append(("ul", [" ".join(item.split()) for item in chunk[2:].split("\n- ")]))
            else:
                blocks.append(("p", " ".join(chunk.split())))
    return blocks


def h(level: int, text: str) -> tuple:
    return ("h", level, text)


def p(text: str) -> tuple:
    return ("p", text)


# --------------------------------------------------------------------------------------------
# Shared sections: the common vocabulary of real manuals (and the distractors of the eval)
# --------------------------------------------------------------------------------------------


def installation(doc: Doc, rng: random.Random) -> list[tuple]:
    tool, w = doc.tool, FAMILY_WORDS[doc.family]
    if doc.library:
        return [
            h(2, "Installation"),
            p(
                f"{tool} is published on the package index and has no compiled dependencies. Install it "
                f"into the virtual environment of your project, pinning the minor version so that an "
                f"upgrade never changes how an existing {w[3]} is produced without you noticing."
            ),
            ("code", f"pip install '{tool}~={rng.randint(1, 4)}.{rng.randint(0, 9)}'"),
            p(
                rng.choice(
                    [
                        "Wheels are provided for Linux, macOS and Windows. Building from a source checkout "
                        "requires only a recent toolchain and the test suite runs without network access.",
                        "The library is pure Python; the optional speedups extra pulls a compiled module "
                        "that is about three times faster on large batches but otherwise identical.",
                    ]
                )
            ),
        ]
    distro = rng.choice(["Debian and Ubuntu", "Fedora and RHEL", "Alpine Linux"])
    manager = {"Debian and Ubuntu": "apt install", "Fedora and RHEL": "dnf install", "Alpine Linux": "apk add"}[distro]
    return [
        h(2, "Installation"),
        p(
            f"Packages are built for {distro}; on other systems download the static binary from the release "
            f"page, verify its signature and copy it into a directory on your PATH. The package installs the "
            f"{tool} binary, a systemd unit, the manual page and an example configuration in "
            f"/etc/{tool}/{tool}.conf.example."
        ),
        ("code", f"sudo {manager} {tool}\n{tool} --version"),
        p(
            rng.choice(
                [
                    f"After an upgrade, run {tool} check-config before restarting the service: the configuration "
                    f"format is stable within a major release, but deprecated keys print a warning that names "
                    f"their replacement.",
                    f"The service runs as the unprivileged user {tool}. Give that user read access to every "
                    f"{w[0]} it must handle, and nothing more.",
                ]
            )
        ),
    ]


def environment(doc: Doc, rng: random.Random) -> list[tuple]:
    tool = doc.tool
    prefix = re.sub(r"[^A-Z0-9]", "_", tool.upper())
    return [
        h(2, "Environment"),
        (
            "dl",
            [
                (f"{prefix}_CONFIG", f"Path of the configuration file, read instead of /etc/{tool}/{tool}.conf."),
                (
                    f"{prefix}_LOG_LEVEL",
                    "One of error, warn, info or debug; debug output includes timings of every step.",
                ),
                ("NO_COLOR", "When set to any value, output is never coloured, even on a terminal."),
            ],
        ),
        p(
            rng.choice(
                [
                    "Command-line options take precedence over environment variables, which take precedence over the "
                    "configuration file.",
                    "Values from the environment override the configuration file but are themselves overridden by "
                    "options given on the command line.",
                ]
            )
        ),
    ]


def logging_section(doc: Doc, rng: random.Random) -> list[tuple]:
    tool, w = doc.tool, FAMILY_WORDS[doc.family]
    return [
        h(2, "Logging"),
        p(
            f"By default {tool} logs to standard error in a human-readable format. With --log-format json every "
            f"line is a JSON object with the fields time, level, message and, where it applies, the {w[0]} and "
            f"the duration in milliseconds. The --verbose flag can be repeated to raise the level; --quiet "
            f"prints errors only. Under systemd the journal keeps the output, so no separate log file is needed."
        ),
    ]


def exit_status(doc: Doc) -> list[tuple]:
    rows = [
        ["0", "success"],
        ["1", "general error, see the message on standard error"],
        ["2", "invalid usage or configuration"],
    ]
    return [
        h(2, "Exit status"),
        p(f"{doc.tool} exits with one of the following codes; scripts should treat any other value as a failure."),
        ("table", ["Code", "Meaning"], rows),
    ]


SHARED = {"installation": installation, "environment": environment, "logging": logging_section}


def extend(doc: Doc, rng: random.Random) -> None:
    """The parts every real manual has: installation, environment, logging, exit status, FAQ, changelog."""
    if doc.family not in FAQ or doc.guide:
        return
    titles = {b[2] for b in doc.blocks if b[0] == "h"}
    if "Installation" not in titles and "Install" not in titles:
        doc.blocks[1:1] = installation(doc, rng)
    if not doc.library:
        if "Environment" not in titles:
            doc.blocks += environment(doc, rng)
        if "Logging" not in titles:
            doc.blocks += logging_section(doc, rng)
        if "Exit status" not in titles and "Exit codes" not in titles:
            doc.blocks += exit_status(doc)
    doc.blocks.append(h(2, "Frequently asked questions"))
    for qa in rng.sample(FAQ[doc.family], 3):
        doc.blocks.append(("qa", qa["question"].format(tool=doc.tool), qa["answer"].format(tool=doc.tool)))
    terms = [t for b in doc.blocks if b[0] == "dl" for t, _ in b[1]]
    terms = [t.split()[0] if t.startswith("-") else t for t in terms] or sorted(titles)
    major = int(re.sub(r"[^0-9.]", "", doc.version).split(".")[0] or 1) if doc.version else 1
    entries = []
    for minor in range(5, 0, -1):
        term = rng.choice(terms)
        line = rng.choice(CHANGELOG_TEMPLATES).format(term=term)
        entries.append(f"{major}.{minor}.0: {line if line.startswith(term) else line[0].upper() + line[1:]}")
    doc.blocks += [h(2, "Changelog"), ("ul", entries)]


def documents(seed: int) -> list[Doc]:
    docs = []
    for meta in json.loads((DATA / "documents.json").read_text(encoding="utf-8")):
        doc = Doc(**meta)
        rng = random.Random(f"{seed}:{doc.rng_name or doc.tool}")
        for block in parse_blocks(Path(DATA, doc.path).with_suffix(".md").read_text(encoding="utf-8")):
            doc.blocks += SHARED[block[1]](doc, rng) if block[0] == "shared" else [block]
        extend(doc, random.Random(f"{seed}:{doc.path}:extend"))
        docs.append(doc)
    return docs


# --------------------------------------------------------------------------------------------
# Rendering: Markdown and HTML
# --------------------------------------------------------------------------------------------


def render_markdown(doc: Doc) -> str:
    out = [f"# {doc.title}", ""]
    if doc.subtitle:
        out += [f"*{doc.subtitle}*" + (f" — version {doc.version}" if doc.version else ""), ""]
    for block in doc.blocks:
        kind = block[0]
        if kind == "h":
            out += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            out += [_wrap_plain(block[1]), ""]
        elif kind == "dl":
            out += [f"- `{term}`: {desc}" for term, desc in block[1]] + [""]
        elif kind == "ul":
            out += [f"- {item}" for item in block[1]] + [""]
        elif kind == "code":
            out += ["```", block[1], "```", ""]
        elif kind == "qa":
            out += [f"**{block[1]}**", "", _wrap_plain(block[2]), ""]
        elif kind == "table":
            _, header, rows = block
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            out += ["| " + " | ".join(row) + " |" for row in rows]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _wrap_plain(text: str, width: int = 100) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False))


def render_html(doc: Doc) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(doc.title)} — {e(doc.subtitle)}</title>",
        "<style>body{font-family:sans-serif;max-width:48em;margin:auto} nav a{margin-right:1em}</style>",
        "</head><body>",
        '<nav><a href="/">Home</a><a href="/docs/">Documentation</a><a href="/blog/">Blog</a><a href="/support/">Support</a></nav>',
        "<main>",
        f"<h1>{e(doc.title)}</h1>",
        f'<p class="lead">{e(doc.subtitle)}' + (f", version {e(doc.version)}" if doc.version else "") + "</p>",
    ]
    for block in doc.blocks:
        kind = block[0]
        if kind == "h":
            parts.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
        elif kind == "p":
            parts.append(f"<p>{e(block[1])}</p>")
        elif kind == "dl":
            parts.append(
                "<dl>" + "".join(f"<dt><code>{e(t)}</code></dt><dd>{e(d)}</dd>" for t, d in block[1]) + "</dl>"
            )
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "code":
            parts.append(f"<pre><code>{e(block[1])}</code></pre>")
        elif kind == "qa":
            parts.append(f"<p><strong>{e(block[1])}</strong></p><p>{e(block[2])}</p>")
        elif kind == "table":
            _, header, rows = block
            parts.append(
                "<table><thead><tr>"
                + "".join(f"<th>{e(c)}</th>" for c in header)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
                + "</tbody></table>"
            )
    parts += [
        "</main>",
        '<footer><p>© 2024 Example Systems. Licensed under the Apache License 2.0. <a href="/privacy/">Privacy</a></p></footer>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------
# Rendering: typeset PDF
# --------------------------------------------------------------------------------------------

PAGE_W, PAGE_H = 420, 595  # A5
MARGIN_X, TOP, BOTTOM = 46, 58, PAGE_H - 52
BODY, LEADING = 9.5, 12.6


def ligate(text: str) -> str:
    return text.replace("ffi", "\ufb03").replace("ffl", "\ufb04").replace("fi", "\ufb01").replace("fl", "\ufb02")


class PdfLayout:
    def __init__(self, doc: Doc):
        import pymupdf

        self.pymupdf = pymupdf
        self.doc = doc
        self.pdf = pymupdf.open()
        self.fonts = {name: pymupdf.Font(name) for name in ("helv", "hebo", "heit", "cour", "cobo")}
        self.writers: list = []
        self.numbers = [0, 0, 0]
        self._new_page()

    # ---- primitives
    def _new_page(self) -> None:
        self._flush()
        self.pdf.new_page(width=PAGE_W, height=PAGE_H)
        self.writers.append(self.pymupdf.TextWriter(self.pymupdf.Rect(0, 0, PAGE_W, PAGE_H)))
        self.rects: list = []
        self.y = TOP

    def _flush(self) -> None:
        """Write the finished page (page objects do not survive adding pages)."""
        if self.writers:
            page = self.pdf[len(self.writers) - 1]
            for rect in self.rects:
                page.draw_rect(rect, color=(0, 0, 0), width=0.6)
            self.writers[-1].write_text(page)

    def _room(self, height: float) -> None:
        if self.y + height > BOTTOM:
            self._new_page()

    def _text(self, x: float, y: float, text: str, font: str, size: float) -> None:
        self.writers[-1].append((x, y), text, font=self.fonts[font], fontsize=size)

    def width(self, text: str, font: str, size: float) -> float:
        return self.fonts[font].text_length(text, fontsize=size)

    # ---- paragraphs with hyphenation
    def _units(self, text: str) -> list[tuple[str, bool]]:
        """(piece, space_after): compounds break after their hyphen without a space."""
        units = []
        for word in text.split():
            pieces = re.split(r"(?<=[a-z]-)(?=[a-z])", word)
            units += [(piece, False) for piece in pieces[:-1]] + [(pieces[-1], True)]
        return units

    def _lines(self, text: str, font: str, size: float, width: float) -> list[str]:
        lines: list[str] = []
        current = ""
        pending_space = False
        for piece, space_after in self._units(text):
            candidate = current + (" " if pending_space and current else "") + piece
            if self.width(candidate, font, size) <= width or not current:
                current, pending_space = candidate, space_after
                continue
            prefix = current + (" " if pending_space else "")
            split = self._hyphenate(piece, width - self.width(prefix, font, size), font, size)
            if split:
                head, tail = split
                lines.append(prefix + head + "-")
                current, pending_space = tail, space_after
            else:
                lines.append(current)
                current, pending_space = piece, space_after
        if current:
            lines.append(current)
        return lines

    def _hyphenate(self, piece: str, room: float, font: str, size: float) -> tuple[str, str] | None:
        match = re.fullmatch(r"([A-Za-z\ufb00-\ufb06]+)([,.;:)]?)", piece)
        if not match or len(match.group(1)) < 8 or not match.group(1)[0].islower():
            return None
        word = match.group(1)
        for cut in range(len(word) - 3, 2, -1):
            if word[cut - 1] in "aeiou" and word[cut] in "aeiou":
                continue  # do not split between two vowels
            if self.width(word[:cut] + "-", font, size) <= room:
                return word[:cut], word[cut:] + match.group(2)
        return None

    def paragraph(
        self, text: str, x: float = MARGIN_X, font: str = "helv", size: float = BODY, after: float = 5
    ) -> None:
        if self.doc.ligatures and font == "helv":
            text = ligate(text)
        for line in self._lines(text, font, size, PAGE_W - MARGIN_X - x):
            self._room(LEADING)
            self.y += LEADING
            self._text(x, self.y - 3, line, font, size)
        self.y += after

    # ---- blocks
    def heading(self, level: int, text: str) -> None:
        if level == 2:
            self.numbers[1] += 1
            self.numbers[2] = 0
            label, size, before = f"{self.numbers[1]} {text}", 13, 12
        else:
            self.numbers[2] += 1
            label, size, before = f"{self.numbers[1]}.{self.numbers[2]} {text}", 11, 8
        self._room(before + size + 4 * LEADING)  # keep with the next lines
        self.y += before + size
        self._text(MARGIN_X, self.y - 2, label, "hebo", size)
        self.y += 6

    def title(self) -> None:
        self.y += 10
        self._text(MARGIN_X, self.y + 12, self.doc.title, "hebo", 20)
        self.y += 34
        line = self.doc.subtitle + (f" — {self.doc.version}" if self.doc.version else "")
        self._text(MARGIN_X, self.y, line, "heit", 11)
        self.y += 18

    def definitions(self, items: list[tuple[str, str]]) -> None:
        for term, desc in items:
            self._room(3 * LEADING)
            self.y += LEADING
            self._text(MARGIN_X, self.y - 3, term, "cobo", 9)
            self.paragraph(desc, x=MARGIN_X + 16, after=3)
        self.y += 3

    def bullets(self, items: list[str]) -> None:
        for item in items:
            self._room(2 * LEADING)
            self._text(MARGIN_X + 2, self.y + LEADING - 3, "•", "helv", BODY)
            self.paragraph(item, x=MARGIN_X + 12, after=2)
        self.y += 3

    def question(self, question: str, answer: str) -> None:
        self._room(3 * LEADING)
        self.paragraph(question, font="hebo", after=1)
        self.paragraph(answer)

    def code_block(self, text: str) -> None:
        for line in text.splitlines():
            self._room(11)
            self.y += 11
            self._text(MARGIN_X + 10, self.y - 3, line, "cour", 8.5)
        self.y += 8

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        size, pad = 8.5, 3
        avail = PAGE_W - 2 * MARGIN_X
        natural = [
            max(self.width(r[c], "helv", size) for r in [header, *rows]) + 2 * pad + 2 for c in range(len(header))
        ]
        scale = min(1.0, avail / sum(natural))
        widths = [w * scale for w in natural]
        if scale < 1.0:  # give the narrow columns their natural width, squeeze the widest
            widest = natural.index(max(natural))
            widths = [w if i != widest else 0 for i, w in enumerate(natural)]
            widths[widest] = avail - sum(widths)
        wrapped = [
            [self._lines(cell, "hebo" if r == 0 else "helv", size, widths[c] - 2 * pad) for c, cell in enumerate(row)]
            for r, row in enumerate([header, *rows])
        ]
        heights = [max(len(cell) for cell in row) * 11 + 2 * pad for row in wrapped]
        self._room(heights[0] + heights[1] + 8)
        self.y += 4
        for r, row in enumerate(wrapped):
            if self.y + heights[r] > BOTTOM:
                self._new_page()
            x = MARGIN_X
            for c, lines in enumerate(row):
                rect = self.pymupdf.Rect(x, self.y, x + widths[c], self.y + heights[r])
                self.rects.append(rect)
                for i, line in enumerate(lines):
                    self._text(x + pad, self.y + pad + 8.5 + i * 11, line, "hebo" if r == 0 else "helv", size)
                x += widths[c]
            self.y += heights[r]
        self.y += 10

    # ---- running headers and footers
    def furniture(self) -> None:
        self._flush()
        n = len(self.writers)
        style = self.doc.header_style
        for number in range(1, n + 1):
            page = self.pdf[number - 1]
            writer = self.pymupdf.TextWriter(page.rect)
            font, size = self.fonts["helv"], 7.5
            if style == 0:
                left = f"{self.doc.title} · {self.doc.version}"
                writer.append((MARGIN_X, 30), left, font=font, fontsize=size)
                footer = f"Page {number} of {n}"
                writer.append(
                    ((PAGE_W - font.text_length(footer, size)) / 2, PAGE_H - 26), footer, font=font, fontsize=size
                )
            elif style == 1:
                if number > 1:
                    writer.append((MARGIN_X, 30), self.doc.title, font=font, fontsize=size)
                    right = self.doc.subtitle
                    writer.append(
                        (PAGE_W - MARGIN_X - font.text_length(right, size), 30), right, font=font, fontsize=size
                    )
                footer = f"{self.doc.title.split()[0]} {self.doc.version.split()[-1]}"
                writer.append((MARGIN_X, PAGE_H - 26), footer, font=font, fontsize=size)
                writer.append(
                    (PAGE_W - MARGIN_X - font.text_length(str(number), size), PAGE_H - 26),
                    str(number),
                    font=font,
                    fontsize=size,
                )
            else:
                top = "Example Systems — internal documentation"
                writer.append((MARGIN_X, 30), top, font=font, fontsize=size)
                footer = f"— {number} —"
                writer.append(
                    ((PAGE_W - font.text_length(footer, size)) / 2, PAGE_H - 26), footer, font=font, fontsize=size
                )
            writer.write_text(page)

    def render(self) -> bytes:
        self.title()
        for block in self.doc.blocks:
            kind = block[0]
            if kind == "h":
                self.heading(block[1], block[2])
            elif kind == "p":
                self.paragraph(block[1])
            elif kind == "dl":
                self.definitions(block[1])
            elif kind == "ul":
                self.bullets(block[1])
            elif kind == "code":
                self.code_block(block[1])
            elif kind == "qa":
                self.question(block[1], block[2])
            elif kind == "table":
                self.table(block[1], block[2])
        self.furniture()
        self.pdf.set_metadata({"title": self.doc.title, "author": "Example Systems"})
        data = self.pdf.tobytes(garbage=4, deflate=True, no_new_id=True)
        self.pdf.close()
        return data


def render_pdf(doc: Doc) -> bytes:
    return PdfLayout(doc).render()


def render_scanned(doc: Doc) -> bytes:
    """Typeset the document, photograph each page at 150 dpi in grey and keep only the pictures."""
    import pymupdf

    typeset = pymupdf.open(stream=render_pdf(doc), filetype="pdf")
    scanned = pymupdf.open()
    for page in typeset:
        pixmap = page.get_pixmap(dpi=150, colorspace=pymupdf.csGRAY)
        target = scanned.new_page(width=page.rect.width, height=page.rect.height)
        target.insert_image(target.rect, stream=pixmap.tobytes("png"))
    scanned.set_metadata({})
    data = scanned.tobytes(garbage=4, deflate=True, no_new_id=True)
    typeset.close()
    scanned.close()
    return data


# --------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Letters and digits only, lower case, ligatures expanded: robust to line breaks, hyphenation,
    Markdown and table markup, for checking that a chunk holds an answer phrase."""
    import unicodedata

    return re.sub(r"[^0-9a-z]+", "", unicodedata.normalize("NFKC", text).lower())


def plain_text(doc: Doc) -> str:
    parts = [doc.title, doc.subtitle]
    for block in doc.blocks:
        if block[0] in ("h",):
            parts.append(block[2])
        elif block[0] in ("p", "code"):
            parts.append(block[1])
        elif block[0] == "qa":
            parts += [block[1], block[2]]
        elif block[0] in ("dl",):
            parts += [f"{t} {d}" for t, d in block[1]]
        elif block[0] == "ul":
            parts += block[1]
        elif block[0] == "table":
            parts += [" ".join(row) for row in [block[1], *block[2]]]
    return "\n".join(parts)


def check_answers(docs: list[Doc]) -> None:
    """Every answer phrase is in its document and in no other one: the passage is unambiguous."""
    texts = {d.path: normalise(plain_text(d)) for d in docs}
    for doc in docs:
        for q in doc.questions:
            if "answer" not in q:
                continue
            needle = normalise(q["answer"])
            where = [path for path, text in texts.items() if needle in text]
            if where != [doc.path]:
                raise AssertionError(
                    f"answer {q['answer']!r} of {q['question']!r} is in {where}, expected only {doc.path}"
                )


def generate(folder: Path, seed: int = 14) -> list[dict]:
    """Write the corpus and `<folder>-questions.json` next to it; return the questions."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    questions: list[dict] = []
    docs = documents(seed)
    check_answers(docs)
    for doc in docs:
        path = folder / doc.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if "/scanned/" in doc.path:
            data = render_scanned(doc)
        elif doc.fmt == "pdf":
            data = render_pdf(doc)
        elif doc.fmt == "md":
            data = render_markdown(doc).encode()
        else:
            data = render_html(doc).encode()
        path.write_bytes(data)
        for q in doc.questions:
            questions.append(
                {
                    "id": f"q{len(questions) + 1:03d}",
                    **q,
                    "level": LEVELS[q["kind"]],
                    "doc_id": doc.path,
                    "scanned": "/scanned/" in doc.path,
                }
            )
    assign_splits(questions)
    (folder.parent / f"{folder.name}-questions.json").write_text(json.dumps(questions, indent=1))
    return questions


def assign_splits(questions: list[dict]) -> None:
    """Give every question its `split`: within each level and kind, the questions ordered by the SHA-256
    of their text alternate between `tune` (for choosing weights) and `judge` (for judging them), so
    that each stratum is halved and the split does not depend on the order of the documents."""
    strata: dict[tuple[str, str], list[dict]] = {}
    for q in questions:
        strata.setdefault((q["level"], q["kind"]), []).append(q)
    for stratum in strata.values():
        stratum.sort(key=lambda q: hashlib.sha256(q["question"].encode()).hexdigest())
        for i, q in enumerate(stratum):
            q["split"] = SPLITS[i % 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    questions = generate(args.out, args.seed)
    kinds = {f"{k}/{s}": sum(q["kind"] == k and q["split"] == s for q in questions) for k in LEVELS for s in SPLITS}
    files = sorted(p for p in args.out.rglob("*") if p.is_file())
    print(f"{len(files)} documents, {len(questions)} questions {kinds} in {args.out}")


if __name__ == "__main__":
    main()
