"""Why a document failed, as one of a small fixed set of classes, read from the error its failure recorded.

The error texts are those the parsers (`ingestion_assets/parsing/`), the sources (`resources/sources/`)
and the object store (`resources/object_store.py`) raise; a parser's message starts with what went
wrong (`corrupt DOCX file: ...`, `too slow: ...`), a source's names the file or object first
(`'a.txt': file no longer exists under ...`, `s3://b/k: access denied (...)`). The classes:

- `unsupported`: content of a kind the parser of its name does not read (another format, binary data
  in a text file, a DTD in Office XML), a file type no parser reads, or a name or file kind the source
  refuses (symbolic link, pipe, a name that cannot be a partition key);
- `encrypted`: password-protected or encrypted;
- `corrupt`: the right kind of file but damaged, truncated, unreadable or empty;
- `too_large`: over a limit on bytes, pages, pixels, expansion (ZIP bomb) or nesting;
- `timed_out`: parsing stopped after INGEST_MAX_PARSE_SECONDS;
- `source_unreadable`: the source could not give the bytes (gone, access denied, I/O or network
  error, changed while read);
- `other`: anything else (a later phase that failed, an error that records no message).

Label values for metrics: never the message itself, which names files.
"""

from __future__ import annotations

import re

UNSUPPORTED = "unsupported"
ENCRYPTED = "encrypted"
CORRUPT = "corrupt"
TOO_LARGE = "too_large"
TIMED_OUT = "timed_out"
SOURCE_UNREADABLE = "source_unreadable"
OTHER = "other"
REASONS = (UNSUPPORTED, ENCRYPTED, CORRUPT, TOO_LARGE, TIMED_OUT, SOURCE_UNREADABLE, OTHER)
"""Every class `classify` returns, in the order reports list them."""

_PHASE_PREFIX = re.compile(r"^\s*\[[\w.-]+\]\s*")
"""`latest_errors` prefixes `[documents] `."""

_START_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern, re.IGNORECASE))
    for reason, pattern in (
        # A parser's message begins with what went wrong, before any name it quotes.
        (TIMED_OUT, r"too slow\b"),
        (TOO_LARGE, r"too large\b"),
        (ENCRYPTED, r"(encrypted\b|password\b|\w+ is password-protected\b)"),
        (CORRUPT, r"(corrupt|damaged|truncated|empty)\b|not an? readable\b"),
        (TOO_LARGE, r"\S+ member .* refused as a ZIP bomb|\S+ file expands to .* over the limit\b"),
        (TOO_LARGE, r"a message attached more than \d+ levels deep\b"),
        (UNSUPPORTED, r"unsupported file type\b|not an? \b|binary content\b|refused\b"),
        (OTHER, r"splitting failed\b|no parsed text in LanceDB\b|no chunks in LanceDB\b"),
    )
)

_SOURCE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern, re.IGNORECASE))
    for reason, pattern in (
        # A source's or the object store's message names the file or URL first, then the reason.
        (
            SOURCE_UNREADABLE,
            r": file no longer exists under |: no such object \(|: bucket .* does not exist \(|: not found \("
            r"|: access denied \(|: no AWS credentials found| is unreachable \("
            r"|file changed while it was being read|the object was replaced since it was listed"
            r"|: (read|head|list|access) failed\b|but the server announced\b|\[Errno \d+\]"
            r"|Permission denied|No such file or directory|Input/output error",
        ),
        (
            UNSUPPORTED,
            r": symbolic links are not followed|: not a regular file\b|is outside the source root"
            r"|is reserved by Dagster|control characters are not allowed|path escapes the source root",
        ),
        (TOO_LARGE, r"\(INGEST_MAX_FILE_MB\)|\(INGEST_MAX_PAGES\)|download abandoned|over the limit of \d"),
        (TIMED_OUT, r"\(INGEST_MAX_PARSE_SECONDS\)|\btimed out\b"),
    )
)

_EXCEPTION_NAMES = {
    # `str(exc) or type(exc).__name__`: an exception without a message is recorded by its class name.
    "TimeoutError": TIMED_OUT,
    "DocumentTooLarge": TOO_LARGE,
    "ObjectTooLarge": TOO_LARGE,
    "MemoryError": TOO_LARGE,
    "FileNotFoundError": SOURCE_UNREADABLE,
    "PermissionError": SOURCE_UNREADABLE,
    "IsADirectoryError": SOURCE_UNREADABLE,
    "OSError": SOURCE_UNREADABLE,
    "IOError": SOURCE_UNREADABLE,
    "ConnectionError": SOURCE_UNREADABLE,
    "SourceReadError": SOURCE_UNREADABLE,
    "FileChangedWhileReading": SOURCE_UNREADABLE,
    "InvalidDocumentName": UNSUPPORTED,
}


def classify(error: str | None) -> str:
    """The class of a recorded failure message (with or without its `[phase] ` prefix); `other` when
    the message is missing or says nothing known."""
    if not error:
        return OTHER
    message = _PHASE_PREFIX.sub("", error, count=1).strip()
    by_name = _EXCEPTION_NAMES.get(message)
    if by_name is not None:
        return by_name
    for reason, pattern in _START_RULES:
        if pattern.match(message):
            return reason
    for reason, pattern in _SOURCE_RULES:
        if pattern.search(message):
            return reason
    return OTHER
