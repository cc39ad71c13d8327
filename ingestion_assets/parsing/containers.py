"""ZIP containers (DOCX, PPTX, XLSX, ODF, EPUB) checked before any library reads them: no ZIP bomb, no encryption."""

from __future__ import annotations

import io
import zipfile

from ingestion_assets.parsing.document import ParseError

MAX_UNCOMPRESSED = 1 << 30
"""The most a container may expand to, all members together."""
MAX_RATIO = 200
"""The most one member may expand by (text compresses by 5-20x; a bomb by thousands)."""
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""Compound File Binary: legacy Office (.doc, .xls, .ppt), Outlook .msg, and encrypted OOXML files."""


def open_zip(data: bytes, what: str, max_uncompressed: int = MAX_UNCOMPRESSED) -> zipfile.ZipFile:
    """`data` as a ZIP archive whose members can be read within limits, or ParseError saying why not.

    `what` names the expected format in messages ("DOCX"). An encrypted OOXML file is an OLE
    container, not a ZIP, and is reported as encrypted.
    """
    if data.startswith(OLE_MAGIC):
        raise ParseError(
            f"encrypted or legacy binary Office file, not a {what} (password-protected files cannot be read)"
        )
    if not data.startswith(b"PK"):
        raise ParseError(f"not a {what} file: {sniff(data)}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise ParseError(f"corrupt {what} file: {exc}") from exc
    total = 0
    for member in members:
        if member.flag_bits & 0x1:
            raise ParseError(f"encrypted {what} file: {member.filename} is password-protected")
        total += member.file_size
        if member.compress_size and member.file_size / member.compress_size > MAX_RATIO and member.file_size > 1 << 20:
            raise ParseError(
                f"{what} member {member.filename} expands {member.file_size // member.compress_size}x "
                f"to {member.file_size >> 20} MiB: refused as a ZIP bomb"
            )
    if total > max_uncompressed:
        raise ParseError(f"{what} file expands to {total >> 20} MiB, over the limit of {max_uncompressed >> 20} MiB")
    return archive


def sniff(data: bytes) -> str:
    """What the bytes look like, for a message about a file named as another format."""
    head = data[:1024].lstrip().lower()
    if data.startswith(b"%PDF"):
        return "looks like a PDF"
    if data.startswith(b"PK"):
        return "looks like a ZIP archive"
    if data.startswith(OLE_MAGIC):
        return "looks like a legacy or encrypted Office file"
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return "looks like HTML"
    if head.startswith(b"<?xml") or head.startswith(b"<"):
        return "looks like XML"
    if data[:8].startswith((b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF8")):
        return "looks like an image"
    return "unrecognised content"
