"""Partition keys, file discovery and parsing without Dagster runs."""

from __future__ import annotations

import os

import pytest

from ingestion_assets.parsing import ParseError, decode_text, html_to_text, parse_bytes, supported_suffixes
from resources.document_source import DocumentSource
from resources.sources.naming import InvalidDocumentName, partition_key_for


@pytest.mark.parametrize("name", ["a...b.txt", "bad\x07bell.txt", "tab\tname.md", "../escape.txt", "new\nline.txt"])
def test_unusable_names_are_refused(name):
    with pytest.raises(InvalidDocumentName):
        partition_key_for(name)


def test_keys_are_relative_posix_paths(tmp_path):
    (tmp_path / "sub dir").mkdir()
    (tmp_path / "sub dir" / "Ünïcode, name's.md").write_text("x")
    (tmp_path / "top.pdf").write_bytes(b"%PDF")
    (tmp_path / "skip.part").write_text("x")
    (tmp_path / ".hidden.txt").write_text("x")
    (tmp_path / "archive.bin").write_bytes(b"x")
    (tmp_path / "a...b.txt").write_text("x")
    outside = tmp_path.parent / f"outside-{tmp_path.name}.txt"
    outside.write_text("secret")
    os.symlink(outside, tmp_path / "link.txt")

    scan = DocumentSource(suffixes=supported_suffixes(), root_dir=str(tmp_path)).scan()

    assert [f.key for f in scan.files] == ["sub dir/Ünïcode, name's.md", "top.pdf"]
    assert [rel for rel, _ in scan.rejected] == ["a...b.txt"]
    with pytest.raises(InvalidDocumentName, match="symbolic links"):
        DocumentSource(suffixes=supported_suffixes(), root_dir=str(tmp_path)).source.path_for("link.txt")


def test_every_file_is_a_document_or_skipped_with_its_reason(tmp_path):
    for name in ["doc.md", "notes/draft.md", "archive.tar", "big.pdf.part", ".env", "scratch/x.md"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x")
    for n in range(50):
        (tmp_path / ".git" / "objects").mkdir(parents=True, exist_ok=True)
        (tmp_path / ".git" / "objects" / f"{n}.txt").write_text("x")
    os.mkfifo(tmp_path / "pipe.txt")
    source = DocumentSource(suffixes=supported_suffixes(), root_dir=str(tmp_path), exclude="scratch/*")

    scan = source.scan()

    assert [f.key for f in scan.files] == ["doc.md", "notes/draft.md"]
    assert scan.skipped == [
        (".env", "hidden"),
        (".git/", "hidden"),
        ("archive.tar", "unsupported type"),
        ("big.pdf.part", "partial upload"),
        ("pipe.txt", "not a regular file"),
        ("scratch/x.md", "excluded by pattern"),
    ]


def test_include_and_exclude_globs(tmp_path):
    for name in ["a.md", "b.txt", "drafts/c.md"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x")
    source = DocumentSource(
        suffixes=supported_suffixes(), root_dir=str(tmp_path), include="**/*.md", exclude="drafts/*"
    )
    assert [f.key for f in source.scan().files] == ["a.md"]


def test_text_decoding():
    assert decode_text("héllo".encode("utf-8-sig")) == ("héllo", [])
    assert decode_text("héllo".encode("utf-16")) == ("héllo", [])
    text, warnings = decode_text("café".encode("cp1252"))
    assert text == "café" and "Windows-1252" in warnings[0]
    with pytest.raises(ParseError, match="NUL"):
        decode_text(b"ab\x00cd")


def test_html_loses_markup_scripts_and_styles():
    text = html_to_text(
        "<html><head><title>T &amp; Q</title><style>p{color:red}</style></head>"
        "<body><script>alert(1)</script><h1>Caf&eacute;</h1><p>One<br>two</p></body></html>"
    )
    assert text.splitlines()[0] == "T & Q"
    assert "Café" in text and "One\ntwo" in text
    assert "alert" not in text and "color" not in text


def test_pdf_errors_are_explained():
    with pytest.raises(ParseError, match="empty file"):
        parse_bytes("x.pdf", b"")
    with pytest.raises(ParseError, match="not a readable PDF"):
        parse_bytes("x.pdf", os.urandom(2048))


def test_content_that_is_another_format_is_read_as_what_it_is():
    import pymupdf

    pdf = pymupdf.open()
    pdf.new_page().insert_text((72, 72), "Harbour seals rest on sandbanks.")
    doc = parse_bytes("notes/seals.txt", pdf.tobytes())
    assert (doc.format, doc.text, doc.title) == ("pdf", "Harbour seals rest on sandbanks.", "seals")
    assert doc.warnings == ["named .txt but the content is PDF: read as such"]
    slides = parse_bytes("deck.pptx", pdf.tobytes())
    assert slides.format == "pdf" and slides.warnings == ["named .pptx but the content is PDF: read as such"]
    with pytest.raises(ParseError, match="not a DOCX file: looks like HTML"):
        parse_bytes("report.docx", b"<!DOCTYPE html><html><body><p>Hi</p></body></html>")
