#!/usr/bin/env python
"""Deterministic synthetic corpus for benchmarking ingestion.

Documents are ~40% multi-page PDF, ~30% Markdown and ~30% plain text, written into nested team
folders. Their prose is built from a few hundred English words arranged in varied sentence
templates (bench/corpus_vocabulary.json), each document about its own topic. Everything derives from one seed: the same seed
and document count give byte-identical files (PDFs are saved without dates or a new file id).

Usage::

    python bench/corpus.py OUT_DIR --docs N [--seed S]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

VOCABULARY = json.loads(Path(__file__).with_name("corpus_vocabulary.json").read_text(encoding="utf-8"))
"""Word lists, topics with their nouns, and sentence templates whose `{SLOT}`s `Writer.sentence` fills."""
TOPICS: dict[str, list[str]] = VOCABULARY["topics"]
PDF_KINDS = ["quarterly review", "technical specification", "handbook", "annual report", "assessment"]
MD_KINDS = ["runbook", "design notes", "wiki page", "onboarding guide", "postmortem"]
TXT_KINDS = ["meeting minutes", "memo", "field notes", "status update", "interview notes"]
TEAMS = ["team-a", "team-b", "operations", "research", "finance"]
FOLDERS = {
    "pdf": ["reports", "specs", "reports/archive"],
    "md": ["notes", "wiki", "runbooks"],
    "txt": ["minutes", "memos", "notes/raw"],
}

WORDS_MEDIAN = 950.0
WORDS_SIGMA = 0.55
WORDS_MIN, WORDS_MAX = 300, 4000
PDF_PAGE = (612.0, 792.0)
PDF_MARGIN = 64.0
PDF_FONTSIZE = 10.0
_AN = re.compile(r"\b([Aa]) (?=[aeiou])")


def plural(noun: str) -> str:
    """English plural of a (possibly multi-word) noun, inflecting the last word."""
    head, _, last = noun.rpartition(" ")
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        last = last[:-1] + "ies"
    elif last.endswith(("s", "x", "ch", "sh", "z")):
        last += "es"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class Writer:
    """Sentences, paragraphs and titles about one topic, drawn from one random generator."""

    def __init__(self, rng: random.Random, topic: str):
        self.rng = rng
        self.topic = topic
        self.topic_nouns = TOPICS[topic]
        self.nouns = rng.sample(VOCABULARY["general_nouns"], 60)
        self.people = rng.sample(VOCABULARY["names"], 4)

    def _noun(self) -> str:
        return self.rng.choice(self.topic_nouns if self.rng.random() < 0.3 else self.nouns)

    def sentence(self) -> str:
        rng = self.rng
        slots = {
            "A": lambda: rng.choice(VOCABULARY["adjectives"]),
            "N": self._noun,
            "Ns": lambda: plural(self._noun()),
            "T": lambda: rng.choice(self.topic_nouns),
            "Ts": lambda: plural(rng.choice(self.topic_nouns)),
            "VB": lambda: rng.choice(VOCABULARY["verbs"])[0],
            "V3": lambda: rng.choice(VOCABULARY["verbs"])[1],
            "VP": lambda: rng.choice(VOCABULARY["verbs"])[2],
            "ADV": lambda: rng.choice(VOCABULARY["adverbs"]),
            "C": lambda: rng.choice(VOCABULARY["connectives"]),
            "P": lambda: rng.choice(self.people),
            "M": lambda: rng.choice(VOCABULARY["months"]),
            "NUM": lambda: str(rng.choice([2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 40, 120])),
            "PCT": lambda: str(rng.randint(2, 45)),
        }
        text = re.sub(r"\{(\w+)\}", lambda m: slots[m.group(1)](), rng.choice(VOCABULARY["templates"]))
        text = _AN.sub(lambda m: m.group(1) + "n ", text)
        return text[0].upper() + text[1:]

    def paragraph(self, min_sentences: int = 3, max_sentences: int = 8) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(min_sentences, max_sentences)))

    def paragraph_of(self, words: int) -> str:
        """A paragraph of about `words` words (within one sentence)."""
        sentences: list[str] = []
        count = 0
        while count < words:
            sentence = self.sentence()
            sentences.append(sentence)
            count += len(sentence.split())
        if len(sentences) > 1 and count - words > words - (count - len(sentences[-1].split())):
            sentences.pop()
        return " ".join(sentences)

    def paragraphs(self, words: int) -> list[str]:
        out: list[str] = []
        count = 0
        while count < words:
            para = self.paragraph()
            out.append(para)
            count += len(para.split())
        return out

    def heading(self) -> str:
        rng = self.rng
        adjective = rng.choice(VOCABULARY["adjectives"])
        return f"{adjective} {rng.choice(self.topic_nouns)} {rng.choice(self.nouns)}".capitalize()

    def title(self, kind: str) -> str:
        adjective, noun = self.rng.choice(VOCABULARY["adjectives"]), self.rng.choice(self.nouns)
        return f"{self.topic} {kind}: {adjective} {noun}".title()


@dataclass(frozen=True)
class DocPlan:
    index: int
    fmt: str
    topic: str
    kind: str
    words: int
    seed: int
    path: str


def plan(n_docs: int, seed: int) -> list[DocPlan]:
    """Format, topic, size, folder and name of every document, all drawn from `seed`."""
    rng = random.Random(seed)
    n_pdf = round(n_docs * 0.4)
    n_md = round(n_docs * 0.3)
    formats = ["pdf"] * n_pdf + ["md"] * n_md + ["txt"] * (n_docs - n_pdf - n_md)
    rng.shuffle(formats)
    kinds = {"pdf": PDF_KINDS, "md": MD_KINDS, "txt": TXT_KINDS}
    topics = sorted(TOPICS)
    docs = []
    for i, fmt in enumerate(formats):
        topic = rng.choice(topics)
        kind = rng.choice(kinds[fmt])
        words = int(min(WORDS_MAX, max(WORDS_MIN, rng.lognormvariate(math.log(WORDS_MEDIAN), WORDS_SIGMA))))
        folder = f"{rng.choice(TEAMS)}/{rng.choice(FOLDERS[fmt])}"
        path = f"{folder}/{slug(topic)}-{slug(kind)}-{i + 1:04d}.{fmt}"
        docs.append(DocPlan(i, fmt, topic, kind, words, rng.getrandbits(63), path))
    return docs


def _markdown(writer: Writer, title: str, words: int) -> str:
    rng = writer.rng
    blocks = [f"# {title}", writer.paragraph()]
    count = len(blocks[1].split())
    while count < words:
        blocks.append(f"## {writer.heading()}")
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.15:
                items = [f"- {writer.sentence()}" for _ in range(rng.randint(3, 5))]
                blocks.append("\n".join(items))
                count += sum(len(item.split()) - 1 for item in items)
            else:
                para = writer.paragraph()
                blocks.append(para)
                count += len(para.split())
    return "\n\n".join(blocks) + "\n"


def _plain_text(writer: Writer, title: str, words: int) -> str:
    rng = writer.rng
    width = rng.choice([0, 0, 72, 78])
    month, year = rng.choice(VOCABULARY["months"]), rng.randint(2019, 2025)
    header = f"{title}\n{'=' * len(title)}\nPrepared by {writer.people[0]}, {month} {year}"
    blocks = [header]
    section = 0
    for i, para in enumerate(writer.paragraphs(words)):
        if i and rng.random() < 0.25:
            section += 1
            blocks.append(f"{section}. {writer.heading().upper()}")
        blocks.append(textwrap.fill(para, width) if width else para)
    return "\n\n".join(blocks) + "\n"


def _pdf(writer: Writer, title: str, words: int, path: Path) -> tuple[int, int]:
    """Write a PDF of 2-12 pages; returns its page and word counts."""
    import pymupdf

    rng = writer.rng
    paragraphs = writer.paragraphs(words)
    n_pages = min(12, max(2, round(words / rng.uniform(150, 400))), len(paragraphs))
    total = sum(len(p.split()) for p in paragraphs)
    pages: list[list[str]] = [[] for _ in range(n_pages)]
    running = 0
    for para in paragraphs:
        pages[min(n_pages - 1, running * n_pages // total)].append(para)
        running += len(para.split())
    pages = [p for p in pages if p]

    width, height = PDF_PAGE
    doc = pymupdf.open()
    body_top = PDF_MARGIN + 36
    for number, paras in enumerate(pages, start=1):
        page = doc.new_page(width=width, height=height)
        if number == 1:
            title_rect = pymupdf.Rect(PDF_MARGIN, PDF_MARGIN, width - PDF_MARGIN, body_top)
            for size in (15, 13, 11, 9):
                if page.insert_textbox(title_rect, title, fontsize=size, fontname="hebo") >= 0:
                    break
        top = body_top if number == 1 else PDF_MARGIN
        rect = pymupdf.Rect(PDF_MARGIN, top, width - PDF_MARGIN, height - PDF_MARGIN)
        while True:
            rc = page.insert_textbox(rect, "\n\n".join(paras), fontsize=PDF_FONTSIZE, fontname="helv")
            if rc >= 0:
                break
            if len(paras) > 1:
                moved = paras.pop()
                if number < len(pages):
                    pages[number].insert(0, moved)
            else:
                sentences = paras[0].split(". ")
                paras[0] = ". ".join(sentences[: max(1, len(sentences) * 3 // 4)])
                if len(sentences) == 1:
                    paras[0] = paras[0][: len(paras[0]) * 3 // 4]
        footer = f"{title} - page {number} of {len(pages)}"
        page.insert_text((PDF_MARGIN, height - PDF_MARGIN / 2), footer, fontsize=7, fontname="helv")
    doc.set_metadata({})
    doc.save(path, garbage=4, deflate=True, no_new_id=True, reproducible=True)
    doc.close()
    return len(pages), sum(len(p.split()) for paras in pages for p in paras)


def _existing_files(out_dir: Path) -> set[str]:
    return {p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file()} if out_dir.exists() else set()


def generate(out_dir: Path, n_docs: int, seed: int = 7) -> dict:
    """Write `n_docs` documents under `out_dir` and return summary statistics.

    Files of an earlier run with the same arguments are overwritten; any other file already in
    `out_dir` is an error, so that the folder holds exactly the corpus.
    """
    out_dir = Path(out_dir)
    docs = plan(n_docs, seed)
    stray = sorted(_existing_files(out_dir) - {d.path for d in docs})
    if stray:
        raise FileExistsError(f"{out_dir} holds files that are not part of this corpus, e.g. {stray[:3]}")
    formats = {"pdf": 0, "md": 0, "txt": 0}
    words: list[int] = []
    pdf_pages = 0
    size = 0
    for d in docs:
        writer = Writer(random.Random(d.seed), d.topic)
        title = writer.title(d.kind)
        path = out_dir / d.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if d.fmt == "pdf":
            pages, count = _pdf(writer, title, d.words, path)
            pdf_pages += pages
        else:
            text = _markdown(writer, title, d.words) if d.fmt == "md" else _plain_text(writer, title, d.words)
            path.write_bytes(text.encode("utf-8"))
            count = len(text.split())
        formats[d.fmt] += 1
        words.append(count)
        size += path.stat().st_size
    return {
        "out_dir": str(out_dir),
        "seed": seed,
        "documents": len(docs),
        "formats": formats,
        "pdf_pages": pdf_pages,
        "words": sum(words),
        "words_min": min(words, default=0),
        "words_mean": round(sum(words) / len(words), 1) if words else 0.0,
        "words_max": max(words, default=0),
        "bytes": size,
    }


def _is_prose(block: str) -> bool:
    first = block.lstrip()[:1]
    return len(block.split()) >= 20 and first not in "#-=" and "\n=" not in block


def edit_one(out_dir: Path, seed: int) -> Path:
    """Replace the middle prose paragraph of one Markdown or text document with a new paragraph of
    about the same length; every other byte of the file is kept. Returns the edited file."""
    out_dir = Path(out_dir)
    candidates = sorted(p for p in out_dir.rglob("*") if p.is_file() and p.suffix in (".md", ".txt"))
    if not candidates:
        raise FileNotFoundError(f"no .md or .txt document under {out_dir}")
    rng = random.Random(seed)
    path = rng.choice(candidates)
    blocks = path.read_text(encoding="utf-8").split("\n\n")
    prose = [i for i, block in enumerate(blocks) if _is_prose(block)]
    if not prose:
        raise ValueError(f"{path} has no paragraph to edit")
    target = prose[len(prose) // 2]
    old = blocks[target]
    topic = next((t for t in sorted(TOPICS, key=len, reverse=True) if path.name.startswith(slug(t) + "-")), None)
    writer = Writer(rng, topic or rng.choice(sorted(TOPICS)))
    width = max(len(line) for line in old.splitlines()) if "\n" in old else 0
    new = old
    while new == old:
        new = writer.paragraph_of(len(old.split()))
        new = textwrap.fill(new, width) if width else new
    blocks[target] = new
    path.write_bytes("\n\n".join(blocks).encode("utf-8"))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--docs", type=int, required=True, help="number of documents")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(json.dumps(generate(args.out_dir, args.docs, args.seed), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
