"""E-mail messages (.eml): the headers, the body (plain text preferred over HTML) and each attachment parsed by its own format's parser."""

from __future__ import annotations

import re
import time
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from ingestion_assets.parsing.document import ParsedDocument, ParseError, ParseLimits, Section, with_empty_warning
from ingestion_assets.parsing.markdown import _ATX, _FENCE, markdown_sections

if TYPE_CHECKING:
    from email.message import EmailMessage

MAX_DEPTH = 3
"""Messages attached to messages are read this many levels deep."""
MAX_ATTACHMENTS = 200
"""Attachments parsed per message; the others are listed by name."""
MAX_NESTING = 20
"""Multipart levels read inside one message."""
_LISTED = 50
"""Attachment names listed in the header block."""
_KNOWN_HEADERS = ("from", "to", "subject", "date", "message-id", "mime-version", "received", "return-path")
_HEADER_LINE = re.compile(rb"^(From |[!-9;-~]+:)")
_SILENT = {"application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature"}
"""Parts that are not content (signatures), skipped without a warning."""
_DEPTH: ContextVar[int] = ContextVar("message_depth", default=0)


@dataclass
class _Parts:
    texts: list[EmailMessage] = field(default_factory=list)
    attachments: list[EmailMessage] = field(default_factory=list)
    too_deep: bool = False


def parse(key: str, data: bytes, limits: ParseLimits) -> ParsedDocument:
    deadline = time.monotonic() + limits.max_seconds
    return _read(key, _message(data), limits, deadline)


def _message(data: bytes) -> EmailMessage:
    """The message in `data`, or ParseError if the bytes are not an e-mail message."""
    import email
    import email.policy

    from ingestion_assets.parsing.containers import sniff

    if not data.strip():
        raise ParseError("empty file: not an e-mail message")
    if not _HEADER_LINE.match(data.lstrip(b"\r\n")):
        what = sniff(data)
        raise ParseError(
            "not an e-mail message: " + ("it does not start with headers" if what == "unrecognised content" else what)
        )
    try:
        message = email.message_from_bytes(data, policy=email.policy.default)
    except RecursionError as exc:
        raise ParseError("corrupt e-mail message: its MIME parts are nested too deeply to read") from exc
    except (ValueError, TypeError, IndexError, AttributeError, LookupError) as exc:
        raise ParseError(f"corrupt e-mail message: {exc}") from exc
    if not any(name in _KNOWN_HEADERS for name in (key.lower() for key in message.keys())):
        raise ParseError("not an e-mail message: no From, To, Subject or Date header")
    return message


def _read(key: str, message: EmailMessage, limits: ParseLimits, deadline: float) -> ParsedDocument:
    depth = _DEPTH.get()
    if depth > MAX_DEPTH:
        raise ParseError(f"a message attached more than {MAX_DEPTH} levels deep is not read")
    token = _DEPTH.set(depth + 1)
    try:
        return _document(key, message, limits, deadline)
    finally:
        _DEPTH.reset(token)


def _document(key: str, message: EmailMessage, limits: ParseLimits, deadline: float) -> ParsedDocument:
    from ingestion_assets.parsing.html import html_to_text

    _check_time(limits, deadline)
    warnings: list[str] = []
    headers = {name: _header(message, name) for name in ("From", "To", "Cc", "Subject", "Date")}
    iso_date = _iso_date(headers["Date"], warnings)
    headers["Date"] = iso_date or headers["Date"]
    subject = headers["Subject"]
    title = subject or PurePosixPath(key).stem

    parts = _Parts()
    _collect(message, parts, 0)
    if parts.too_deep:
        warnings.append(
            f"multipart structure nested more than {MAX_NESTING} levels deep: the deeper parts are not read"
        )
    bodies = []
    for part in parts.texts:
        content = _part_text(part, "body", warnings)
        if part.get_content_subtype() == "html":
            content = html_to_text(content, with_title=False)
            bodies.append(_demote(content, markdown_sections(content), 1))
        else:
            bodies.append(_demote(content, markdown_sections(content, atx=False), 1, atx=False))

    names = [_attachment_name(part, i) for i, part in enumerate(parts.attachments, 1)]
    sections, unsupported, skipped = [], [], 0
    for part, name in zip(parts.attachments, names, strict=True):
        _check_time(limits, deadline)
        if len(sections) >= MAX_ATTACHMENTS:
            skipped += 1
            continue
        doc = _attachment(part, name, limits, deadline, warnings, unsupported)
        if doc is not None:
            sections.append(f"## Attachment: {name}\n\n" + _demote(doc.text, doc.sections, 2).strip())
            warnings.extend(f"attachment {name}: {warning}" for warning in doc.warnings)
    if unsupported:
        warnings.append(f"{len(unsupported)} attachment(s) of a type that is not read: " + _listing(unsupported))
    if skipped:
        warnings.append(f"{skipped} attachment(s) not read: the limit is {MAX_ATTACHMENTS} per message")

    block = [f"{label}: {headers[label]}" for label in ("From", "To", "Cc", "Date", "Subject") if headers[label]]
    if names:
        block.append("Attachments: " + _listing(names))
    chunks = ["\n".join(block), f"# {_one_line(title)}", *(body.strip() for body in bodies), *sections]
    text = "\n\n".join(chunk for chunk in chunks if chunk) + "\n"
    metadata = {name.lower(): value for name, value in headers.items() if value and name != "Date"}
    if iso_date:
        metadata["date"] = iso_date
    doc = ParsedDocument("eml", text, [0], warnings, title, markdown_sections(text), metadata=metadata)
    if not any(body.strip() for body in bodies) and not sections:
        doc.warnings.append("no body text and no readable attachment")
    return with_empty_warning(doc)


def _check_time(limits: ParseLimits, deadline: float) -> None:
    if time.monotonic() > deadline:
        raise ParseError(
            f"too slow: the message and its attachments took over {limits.max_seconds:g} s (INGEST_MAX_PARSE_SECONDS)"
        )


def _collect(part: EmailMessage, found: _Parts, level: int) -> None:
    """Body text parts and attachments of `part`, in order; of a multipart/alternative only the
    preferred version (plain text, else a nested multipart, else HTML)."""
    content_type = part.get_content_type()
    maintype = part.get_content_maintype()
    if content_type in _SILENT:
        return
    if maintype == "multipart" and not part.is_attachment():
        if level >= MAX_NESTING:
            found.too_deep = True
            return
        children = part.get_payload()
        if not isinstance(children, list):
            found.texts.append(part)
            return
        if part.get_content_subtype() == "alternative" and children:
            rank = {"text/plain": 0, "text/html": 2}
            children = [min(children, key=lambda c: rank.get(c.get_content_type(), 1 if c.is_multipart() else 3))]
        related = part.get_content_subtype() == "related"
        for i, child in enumerate(children):
            if related and i and child.get_content_maintype() == "image":
                continue
            _collect(child, found, level + 1)
        return
    if content_type in ("text/plain", "text/html") and not part.is_attachment() and not _filename(part):
        found.texts.append(part)
    else:
        found.attachments.append(part)


def _attachment(
    part: EmailMessage, name: str, limits: ParseLimits, deadline: float, warnings: list[str], unsupported: list[str]
) -> ParsedDocument | None:
    """The attachment parsed by its format's parser; None (with a warning) when it cannot be."""
    from ingestion_assets.parsing.registry import format_for

    remaining = replace(limits, max_seconds=max(deadline - time.monotonic(), 0.001))
    try:
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            if not isinstance(inner, list) or not inner:
                raise ParseError("empty attached message")
            return _read(name, inner[0], remaining, deadline)
        try:
            fmt = format_for(name)
        except ParseError:
            unsupported.append(name)
            return None
        data = part.get_payload(decode=True) or b""
        return fmt.parse(name, data, remaining)
    except ParseError as exc:
        if str(exc).startswith("too slow"):
            raise
        warnings.append(f"attachment {name} not read: {exc}")
    return None


def _attachment_name(part: EmailMessage, number: int) -> str:
    """The attachment's file name (its last path component on one line), else a name from its type."""
    import mimetypes

    name = _one_line(PurePosixPath(_filename(part).replace("\\", "/")).name)[:200]
    if name:
        return name
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        subject = _header(inner[0], "Subject") if isinstance(inner, list) and inner else ""
        return _one_line(subject.replace("/", " "))[:200] + ".eml" if subject else f"message-{number}.eml"
    return f"attachment-{number}" + (mimetypes.guess_extension(part.get_content_type()) or "")


def _filename(part: EmailMessage) -> str:
    try:
        return part.get_filename() or ""
    except (ValueError, TypeError, IndexError, AttributeError, LookupError):
        return ""


def _part_text(part: EmailMessage, what: str, warnings: list[str]) -> str:
    """A text part decoded (transfer encoding, then charset; a wrong or unknown charset detected or replaced)."""
    from ingestion_assets.parsing.text import decode_text

    try:
        data = part.get_payload(decode=True) or b""
    except (ValueError, TypeError, AttributeError, LookupError) as exc:
        warnings.append(f"{what}: unreadable content ({exc})")
        return ""
    try:
        charset = part.get_content_charset()
    except (ValueError, TypeError, AttributeError, LookupError):
        charset = None
    try:
        text, problems = decode_text(data, charset)
    except ParseError as exc:
        warnings.append(f"{what} not read: {exc}")
        return ""
    warnings.extend(f"{what}: {problem}" for problem in problems)
    return text


def _header(message: EmailMessage, name: str) -> str:
    """A header's value on one line (encoded words decoded); values of a repeated header joined by ", "."""
    try:
        values = [str(value) for value in message.get_all(name, [])]
    except Exception:  # the stdlib's header parser fails in many ways on malformed headers
        values = [_raw_header(value) for key, value in message.raw_items() if key.lower() == name.lower()]
    if any("\ufffd" in value for value in values):
        values = [_raw_header(value) for key, value in message.raw_items() if key.lower() == name.lower()]
    if name == "Subject" or name == "Date":
        values = values[:1]
    return _one_line(", ".join(values))


def _raw_header(value: str) -> str:
    """A header as written: its 8-bit bytes and its encoded words decoded (UTF-8, else the charset
    they name, else a detected legacy encoding)."""
    from email.header import decode_header

    from ingestion_assets.parsing.text import decode_text

    try:
        value = decode_text(value.encode("ascii", errors="surrogateescape"))[0]
        pieces = decode_header(value)
    except (ParseError, UnicodeError, ValueError, LookupError):
        return value
    decoded = []
    for piece, charset in pieces:
        if isinstance(piece, str):
            decoded.append(piece)
            continue
        try:
            decoded.append(decode_text(piece, charset)[0])
        except ParseError:
            decoded.append(piece.decode("utf-8", errors="replace"))
    return "".join(decoded)


def _iso_date(value: str, warnings: list[str]) -> str:
    from email.utils import parsedate_to_datetime

    if not value:
        return ""
    try:
        return parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError, IndexError, OverflowError):
        warnings.append(f"unreadable Date header, kept as written: {value[:100]}")
        return ""


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _demote(text: str, sections: list[Section], by: int, atx: bool = True) -> str:
    """`text` with its headings (`sections`, read with `atx`) as `#` lines `by` levels lower, other
    `#` lines escaped (they are not headings in plain text) and a code fence left open closed."""
    starts = {section.char_start: section for section in sections}
    out: list[str] = []
    position = 0
    fence: str | None = None
    underline = False
    for line in text.splitlines(keepends=True):
        start, position = position, position + len(line)
        if underline:
            underline = False
            continue
        stripped = line.rstrip("\r\n")
        marker = _FENCE.match(stripped)
        if fence is not None:
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = None
        elif marker:
            fence = marker.group(1)
        elif start in starts:
            section = starts[start]
            underline = not (atx and _ATX.match(stripped))
            line = "#" * min(section.level + by, 6) + " " + section.title + "\n"
        elif _ATX.match(stripped):
            line = line.replace("#", "\\#", 1)
        out.append(line)
    if fence is not None:
        out.append("\n" + fence + "\n")
    return "".join(out)
