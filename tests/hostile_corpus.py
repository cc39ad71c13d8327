"""A folder of everything people drop into an inbox, generated on the fly (nothing large committed).

`build(folder)` writes the files and returns the expected outcome per document id:
("ok", phrase that must be found), ("warn", warning fragment) or ("fail", error fragment).
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pymupdf

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
LONG_NAME = "a" * 246 + "-255.txt"


def _pdf_bytes(pages: list[str], **save) -> bytes:
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), text, fontsize=11)
    data = doc.tobytes(garbage=3, deflate=True, **save)
    doc.close()
    return data


def scanned_pdf() -> bytes:
    """Pages that hold only an image of text: nothing to extract without OCR."""
    source = pymupdf.open()
    page = source.new_page(width=300, height=120)
    page.insert_text((20, 60), "A scanned letter", fontsize=20)
    image = page.get_pixmap(dpi=72).tobytes("png")
    doc = pymupdf.open()
    for _ in range(2):
        doc.new_page().insert_image(pymupdf.Rect(50, 50, 350, 170), stream=image)
    return doc.tobytes()


def big_pdf(pages: int) -> bytes:
    doc = pymupdf.open()
    for number in range(1, pages + 1):
        doc.new_page(width=200, height=100).insert_text((10, 50), f"Manual page {number}.", fontsize=9)
    return doc.tobytes(garbage=3, deflate=True)


def build(folder: Path) -> dict[str, tuple[str, str]]:
    rng = random.Random(13)
    folder.mkdir(parents=True, exist_ok=True)
    text = "Le café du coin sert une crème brûlée. Naïve façade, déjà vu."
    good_pdf = (SAMPLES / "sourdough-bread.pdf").read_bytes()
    files: dict[str, bytes] = {
        "good/tidal-energy.txt": (SAMPLES / "tidal-energy.txt").read_bytes(),
        "good/sourdough-bread.pdf": good_pdf,
        "empty.txt": b"",
        "empty.pdf": b"",
        "truncated.pdf": good_pdf[: len(good_pdf) // 2],
        "random-bytes.pdf": bytes(rng.getrandbits(8) for _ in range(4096)),
        "encrypted.pdf": _pdf_bytes(
            ["Secret plans."], encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", user_pw="user"
        ),
        "scanned.pdf": scanned_pdf(),
        "encodings/utf8.txt": text.encode("utf-8"),
        "encodings/utf8-bom.txt": text.encode("utf-8-sig"),
        "encodings/utf16-bom.txt": text.encode("utf-16"),
        "encodings/cp1252.txt": text.encode("cp1252"),
        "binary.txt": b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8,
        'names/quote\'s "double".txt': b"A file whose name has quotes in it, about kelp forests.",
        "names/spaces and, commas.md": b"# Commas\n\nA file with spaces and commas in its name, about glaciers.",
        "names/naïve – ünïcödé.txt": b"Unicode names work too: about the aurora borealis.",
        f"names/{LONG_NAME}": b"A file whose name is 255 bytes long, about coral reefs.",
    }
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (folder / "names" / "dots...name.txt").write_bytes(b"Dagster reserves '...' in partition keys.")
    outside = folder.parent / f"{folder.name}-outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text("outside the source root: must never be read")
    os.symlink(outside / "secret.txt", folder / "link-to-secret.txt")
    os.symlink(outside, folder / "linked-folder")
    return {
        "good/tidal-energy.txt": ("ok", "tidal barrage"),
        "good/sourdough-bread.pdf": ("ok", "levain"),
        "empty.txt": ("warn", "no text"),
        "empty.pdf": ("fail", "empty file (0 bytes)"),
        "truncated.pdf": ("fail", "truncated PDF"),
        "random-bytes.pdf": ("fail", "not a readable PDF"),
        "encrypted.pdf": ("fail", "password-protected"),
        "scanned.pdf": ("warn", "no text layer"),
        "encodings/utf8.txt": ("ok", "crème brûlée"),
        "encodings/utf8-bom.txt": ("ok", "crème brûlée"),
        "encodings/utf16-bom.txt": ("ok", "crème brûlée"),
        "encodings/cp1252.txt": ("warn", "Windows-1252"),
        "binary.txt": ("fail", "binary content"),
        'names/quote\'s "double".txt': ("ok", "kelp forests"),
        "names/spaces and, commas.md": ("ok", "glaciers"),
        "names/naïve – ünïcödé.txt": ("ok", "aurora borealis"),
        f"names/{LONG_NAME}": ("ok", "coral reefs"),
    }


def remove(folder: Path) -> None:
    shutil.rmtree(folder.parent / f"{folder.name}-outside", ignore_errors=True)
