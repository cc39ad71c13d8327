"""Which names under a source are documents, and the partition key of each: the rules every kind of source shares."""

from __future__ import annotations

import fnmatch
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload")
"""Names of files still being delivered: write `name.part`, then rename it to `name`."""

HIDDEN = "hidden"
PARTIAL_UPLOAD = "partial upload"
UNSUPPORTED_TYPE = "unsupported type"
EXCLUDED = "excluded by pattern"
NOT_REGULAR = "not a regular file"
QUERY_STRING = "query string"
DISALLOWED = "disallowed by robots.txt"
REDIRECT_REFUSED = "redirect refused"
SKIP_REASONS = (
    UNSUPPORTED_TYPE,
    HIDDEN,
    PARTIAL_UPLOAD,
    EXCLUDED,
    NOT_REGULAR,
    QUERY_STRING,
    DISALLOWED,
    REDIRECT_REFUSED,
)
"""Why a file (or, on a site, a URL) under the source is not a document. A hidden folder is one entry (`.git/`), not
one per file; the last three are a site's."""


class InvalidDocumentName(ValueError):
    """A file whose relative path cannot be a Dagster partition key."""


def partition_key_for(relative: PurePosixPath | str) -> str:
    """The partition key of a file: its path relative to the source root, `/`-separated.

    Dagster uses `...` to separate the ends of a partition range, so such names are refused
    rather than silently mangled; so are control characters and parent-directory parts.
    """
    key = str(PurePosixPath(relative))
    if "..." in key:
        raise InvalidDocumentName(f"{key!r}: '...' is reserved by Dagster for partition ranges; rename the file")
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        raise InvalidDocumentName(f"{key!r}: control characters are not allowed in document names")
    if key.startswith("/") or ".." in PurePosixPath(key).parts:
        raise InvalidDocumentName(f"{key!r}: path escapes the source root")
    return key


def hidden_folder(rel: str) -> str | None:
    """The first hidden folder (`.git/`) on the way to `rel`, if any."""
    parts = rel.split("/")[:-1]
    for i, part in enumerate(parts):
        if part.startswith("."):
            return "/".join(parts[: i + 1]) + "/"
    return None


def hidden_or_partial(rel: str) -> bool:
    """Never a document, whatever the patterns: hidden (itself or a folder on its way) or still being delivered.

    `.` and `..` parts are not hidden names: such keys are refused as unclean paths instead."""
    parts = [part for part in rel.split("/") if part not in (".", "..")]
    return any(part.startswith(".") for part in parts) or rel.endswith(PARTIAL_SUFFIXES)


@dataclass(frozen=True)
class NameRules:
    """The file types the parsers read and the include/exclude globs (comma-separated) of one source."""

    suffixes: frozenset[str]
    include: str = "**/*"
    exclude: str = ""

    def skip_reason(self, rel: str) -> str | None:
        """Why the file at `rel` (relative to the root) is not a document, or None if it is one."""
        name = rel.rsplit("/", 1)[-1]
        if name.startswith(".") or hidden_folder(rel) is not None:
            return HIDDEN
        if name.endswith(PARTIAL_SUFFIXES):
            return PARTIAL_UPLOAD
        includes = _patterns(self.include) or ["**/*"]
        if not any(_glob_match(rel, p) for p in includes) or any(_glob_match(rel, p) for p in _patterns(self.exclude)):
            return EXCLUDED
        if PurePosixPath(name).suffix.lower() not in self.suffixes:
            return UNSUPPORTED_TYPE
        return None


def _patterns(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


def _glob_match(rel: str, pattern: str) -> bool:
    if pattern in ("**/*", "**", "*"):
        return True
    if pattern.startswith("**/"):
        return fnmatch.fnmatchcase(rel, pattern[3:]) or fnmatch.fnmatchcase(rel, pattern)
    return fnmatch.fnmatchcase(rel, pattern)
