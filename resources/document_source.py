"""The folder documents are ingested from, and the mapping between files and partition keys."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import dagster as dg

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
PYMUPDF_SUFFIXES = {".pdf", ".xps", ".oxps", ".epub", ".mobi", ".fb2", ".cbz", ".svg"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PYMUPDF_SUFFIXES

PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload")
"""Names of files still being delivered: write `name.part`, then rename it to `name`."""


class InvalidDocumentName(ValueError):
    """A file whose relative path cannot be a Dagster partition key."""


class FileChangedWhileReading(OSError):
    """The file's bytes changed between two reads; it is retried once it is stable."""

    def __init__(self) -> None:
        super().__init__("file changed while it was being read; it will be retried once it is stable")


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


@dataclass(frozen=True)
class SourceFile:
    key: str
    path: Path
    size_bytes: int
    mtime_ns: int


@dataclass(frozen=True)
class Scan:
    files: list[SourceFile]
    rejected: list[tuple[str, str]]


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


class DocumentSource(dg.ConfigurableResource):
    """The source root documents are read from (`INGEST_SOURCE_DIR`, default `inbox/`).

    Only regular files inside the root are listed or read: symlinks are never followed, so
    nothing outside the root can be ingested.
    """

    root_dir: str = "inbox"
    include: str = "**/*"
    exclude: str = ""
    max_file_mb: float = 512.0
    max_pages: int = 5000
    max_parse_seconds: float = 300.0

    @property
    def root(self) -> Path:
        return Path(self.root_dir).expanduser().resolve()

    def _patterns(self, value: str) -> list[str]:
        return [p.strip() for p in value.split(",") if p.strip()]

    def _wanted(self, rel: str) -> bool:
        name = rel.rsplit("/", 1)[-1]
        if name.startswith(".") or name.endswith(PARTIAL_SUFFIXES):
            return False
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            return False
        includes = self._patterns(self.include) or ["**/*"]
        if not any(_glob_match(rel, p) for p in includes):
            return False
        return not any(_glob_match(rel, p) for p in self._patterns(self.exclude))

    def scan(self, under: Path | None = None) -> Scan:
        """Every supported regular file under the root (or a folder inside it), sorted by key.

        Names that cannot be partition keys are returned in `rejected`, with the reason.
        """
        rejected: list[tuple[str, str]] = []
        start = (under or self.root).resolve()
        self.ensure_inside(start)
        found: list[SourceFile] = []
        stack = [start]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                rel = Path(entry.path).relative_to(self.root).as_posix()
                if not self._wanted(rel):
                    continue
                try:
                    key = partition_key_for(rel)
                except InvalidDocumentName as exc:
                    rejected.append((rel, str(exc)))
                    continue
                st = entry.stat(follow_symlinks=False)
                found.append(SourceFile(key, Path(entry.path), st.st_size, st.st_mtime_ns))
        found.sort(key=lambda f: f.key)
        return Scan(found, rejected)

    def ensure_inside(self, path: Path) -> None:
        root = self.root
        if path != root and root not in path.parents:
            raise InvalidDocumentName(f"{path} is outside the source root {root}")

    def path_for(self, key: str) -> Path:
        """The file behind a partition key; refuses anything that is not a regular file inside the root."""
        partition_key_for(key)
        path = self.root.joinpath(*PurePosixPath(key).parts)
        parent = path.parent.resolve()
        self.ensure_inside(parent)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{key!r}: file no longer exists under {self.root}") from exc
        if stat.S_ISLNK(mode):
            raise InvalidDocumentName(f"{key!r}: symbolic links are not followed")
        if not stat.S_ISREG(mode):
            raise InvalidDocumentName(f"{key!r}: not a regular file")
        return path

    def uri_for(self, key: str) -> str:
        return self.root.joinpath(*PurePosixPath(key).parts).as_uri()

    def stat_fingerprint(self, key: str) -> dict[str, int]:
        """Size and mtime of a document's file, or nothing if it cannot be stat'ed."""
        try:
            st = os.lstat(self.root.joinpath(*key.split("/")))
        except (OSError, ValueError):
            return {}
        return {"size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _glob_match(rel: str, pattern: str) -> bool:
    if pattern in ("**/*", "**", "*"):
        return True
    if pattern.startswith("**/"):
        return fnmatch.fnmatchcase(rel, pattern[3:]) or fnmatch.fnmatchcase(rel, pattern)
    return fnmatch.fnmatchcase(rel, pattern)
