"""What every kind of source gives: a listing with fingerprints and skip reasons, one document's bytes within
a size limit, names for messages; and the errors they raise."""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from resources.sources.naming import NameRules


class SourceUnavailable(RuntimeError):
    """The source as a whole cannot be used: the folder or bucket does not exist, cannot be listed,
    or the location is not a supported one. Never read as "0 documents"."""


class DocumentTooLarge(ValueError):
    """A document over INGEST_MAX_FILE_MB; nothing of it was parsed (nor, for an object, downloaded)."""


class SourceReadError(OSError):
    """One object could not be read for a reason that is not a missing object or a denied access."""


class FileChangedWhileReading(OSError):
    """The file's bytes changed between two reads; it is retried once it is stable."""

    def __init__(self, where: str = "") -> None:
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}file changed while it was being read; it will be retried once it is stable")


@dataclass(frozen=True)
class SourceFile:
    """One listed document. `path` is None for an object; `etag` is set for objects only."""

    key: str
    path: Path | None
    size_bytes: int
    mtime_ns: int
    etag: str | None = None


class ContentHash(NamedTuple):
    """sha256 of a document's bytes and the size and mtime of the version hashed."""

    sha256: str
    size_bytes: int
    mtime_ns: int


@dataclass(frozen=True)
class Scan:
    files: list[SourceFile]
    rejected: list[tuple[str, str]]
    """(path, reason) of files whose name cannot be a partition key: they fail the listing's run."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) of the files that are not documents, each reason one of SKIP_REASONS."""
    under: str = ""
    """The key prefix listed ("" for the whole source)."""
    incomplete: str = ""
    """Why the listing may lack documents that still exist (a site answering 5xx, an unreachable sitemap,
    a page limit), or "" when it is complete; deletions are held while it is set."""

    @property
    def keys(self) -> set[str]:
        """Every name the listing saw as a document, also those refused as partition keys."""
        return {f.key for f in self.files} | {rel for rel, _ in self.rejected}


class Source(ABC):
    """One place documents are read from. Keys are paths relative to its root, `/`-separated."""

    lists_cheaply = True
    """Whether a listing is cheap enough for a table-wide check to make one (a site's is a crawl)."""

    def __init__(self, rules: NameRules, max_bytes: int) -> None:
        self.rules = rules
        self.max_bytes = max_bytes

    @property
    @abstractmethod
    def location(self) -> str:
        """The resolved folder or normalised URL: what messages name."""

    @abstractmethod
    def check(self) -> None:
        """Raise SourceUnavailable, naming the source, unless it exists and can be listed."""

    @abstractmethod
    def list(self, under: str = "") -> Scan:
        """Every document under the root (or under the key prefix `under`), sorted by key, and every
        other file with the reason it is skipped. SourceUnavailable when it cannot be listed."""

    @abstractmethod
    def scope(self, target: str) -> str | None:
        """The key prefix of a folder or URL inside this source ("" for the root), or None if outside it."""

    @abstractmethod
    def content_hash(self, key: str, listed: SourceFile | None = None) -> ContentHash:
        """sha256, size and mtime of a document's current content, refused over the size limit."""

    @abstractmethod
    def read(self, key: str, content_hash: str) -> bytes:
        """The document's bytes, refused (FileChangedWhileReading) unless they are the bytes hashed."""

    @abstractmethod
    def stat_fingerprint(self, key: str) -> dict[str, int]:
        """Size and mtime of a document, or nothing if it cannot be stat'ed."""

    @abstractmethod
    def uri_for(self, key: str) -> str:
        """`file:///...` or `s3://bucket/prefix/key`: what the `documents` table stores."""

    def display(self, key: str) -> str:
        """What metadata and messages show for a document."""
        return self.uri_for(key)

    def parse_name(self, key: str) -> str:
        """The name whose suffix picks the document's parser: the key itself, unless the source knows
        better (a web page at `guide/intro` is HTML)."""
        return key

    def missing(self, keys: Iterable[str]) -> set[str]:
        """The keys that are no longer documents of this source (one listing)."""
        keys = set(keys)
        return keys - self.list().keys if keys else set()

    def close(self) -> None:
        """Release what the source holds between calls (nothing, unless it caches)."""
        return None

    def too_large(self, size: int, where: str) -> DocumentTooLarge:
        return DocumentTooLarge(
            f"too large: {size / 2**20:.0f} MB, the limit is {self.max_bytes / 2**20:g} MB (INGEST_MAX_FILE_MB): {where}"
        )


def hash_file(path: os.PathLike) -> tuple[str, os.stat_result]:
    """sha256 of a file's content and its stat, refused if the file changed while it was read."""
    digest = hashlib.sha256()
    before = os.stat(path, follow_symlinks=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    after = os.stat(path, follow_symlinks=False)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise FileChangedWhileReading()
    return digest.hexdigest(), after


def read_exact(path: os.PathLike, content_hash: str) -> bytes:
    """The file's bytes, refused unless they are the bytes that were hashed."""
    with open(path, "rb") as handle:
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != content_hash:
        raise FileChangedWhileReading()
    return data
