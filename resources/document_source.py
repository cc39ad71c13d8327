"""Where documents are ingested from: a local folder or an `s3://bucket/prefix/` location, and the
mapping between files (or objects) and partition keys.

Both kinds give the same keys (the path relative to the root, `/`-separated), apply the same naming
rules (`partition_key_for`) and the same hidden/partial-name rules. The pipeline never touches paths
itself: it lists with `scan`, fingerprints with `content_hash`, reads with `read` and names documents
with `uri_for`/`display`, so one code path serves both.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import unquote, urlparse

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:
    from resources.object_store import ObjectStore


PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload")
"""Names of files still being delivered: write `name.part`, then rename it to `name`."""


class InvalidDocumentName(ValueError):
    """A file whose relative path cannot be a Dagster partition key."""


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
    """One listed document. `path` is None for an object; `etag` is set for objects only."""

    key: str
    path: Path | None
    size_bytes: int
    mtime_ns: int
    etag: str | None = None


class ContentHash(NamedTuple):
    """sha256 of a document's bytes and the size and mtime of the version hashed.

    `st_size`/`st_mtime_ns` make it usable where an `os.stat_result` was."""

    sha256: str
    size_bytes: int
    mtime_ns: int

    @property
    def st_size(self) -> int:
        return self.size_bytes

    @property
    def st_mtime_ns(self) -> int:
        return self.mtime_ns


HIDDEN = "hidden"
PARTIAL_UPLOAD = "partial upload"
UNSUPPORTED_TYPE = "unsupported type"
EXCLUDED = "excluded by pattern"
NOT_REGULAR = "not a regular file"
SKIP_REASONS = (UNSUPPORTED_TYPE, HIDDEN, PARTIAL_UPLOAD, EXCLUDED, NOT_REGULAR)
"""Why a file under the source is not a document. A hidden folder is one entry (`.git/`), not one per file."""


@dataclass(frozen=True)
class Scan:
    files: list[SourceFile]
    rejected: list[tuple[str, str]]
    """(path, reason) of files whose name cannot be a partition key: they fail the listing's run."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(path, reason) of the files that are not documents, each reason one of SKIP_REASONS."""


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


def is_remote(location: str) -> bool:
    """True for `scheme://...` other than `file://`: an object-store URL (or an unsupported one)."""
    from resources.object_store import is_object_store_url

    value = location.strip()
    return is_object_store_url(value) and not value.lower().startswith("file://")


def _local_path(location: str) -> Path:
    value = location.strip()
    if value.lower().startswith("file://"):
        value = unquote(urlparse(value).path)
    return Path(value).expanduser().resolve()


def _whole_seconds(ns: int) -> int:
    """S3 keeps LastModified to the second, but listings show milliseconds and HEAD/GET do not:
    objects are fingerprinted to the second so that the listing and a read always agree."""
    return ns - ns % 1_000_000_000


class _LRU:
    """A small thread-safe LRU map with a cost limit (entries or bytes)."""

    def __init__(self, limit: int, cost=lambda value: 1) -> None:
        self.limit, self.cost, self.used = limit, cost, 0
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key, pop: bool = False):
        with self.lock:
            if key not in self.items:
                return None
            if pop:
                value = self.items.pop(key)
                self.used -= self.cost(value)
                return value
            self.items.move_to_end(key)
            return self.items[key]

    def put(self, key, value) -> None:
        size = self.cost(value)
        if size > self.limit:
            return
        with self.lock:
            if key in self.items:
                self.used -= self.cost(self.items.pop(key))
            self.items[key] = value
            self.used += size
            while self.used > self.limit:
                _, old = self.items.popitem(last=False)
                self.used -= self.cost(old)


_OBJECT_HASHES = _LRU(200_000)
"""(location, key, ETag, size) -> sha256: an object whose ETag and size did not change is not
downloaded again to be fingerprinted (e.g. re-uploaded with the same content: a "touch")."""
_OBJECT_BODIES = _LRU(128 << 20, cost=len)
"""(location, key, sha256) -> bytes downloaded by `content_hash`, taken by the `read` that follows,
so the ingestion step downloads each object once."""


_MOVED_TO_PARSER = "Deprecated: configure the `parser` resource; a value set here still overrides it."


class DocumentSource(dg.ConfigurableResource):
    """The source root documents are read from (`INGEST_SOURCE_DIR`, default `inbox/`): a local
    folder, or `s3://bucket/prefix/` on S3 or an S3-compatible server (configured by the AWS_*
    environment; see resources/object_store.py).

    In a folder only regular files inside the root are listed or read: symlinks are never
    followed, so nothing outside the root can be ingested.
    """

    root_dir: str = "inbox"
    suffixes: list[str] = Field(
        default_factory=list,
        description="The file types the parsers read (`.pdf`, ...), given by their registry; needed to list the source.",
    )
    include: str = "**/*"
    exclude: str = ""
    max_file_mb: float = 512.0
    max_pages: int | None = Field(default=None, description=_MOVED_TO_PARSER)
    max_parse_seconds: float | None = Field(default=None, description=_MOVED_TO_PARSER)
    ocr: bool | None = Field(default=None, description=_MOVED_TO_PARSER)

    # ---- where -----------------------------------------------------------------------------------

    @property
    def is_object_store(self) -> bool:
        return is_remote(self.root_dir)

    @property
    def root(self) -> Path:
        """The local folder (only for a folder source)."""
        if self.is_object_store:
            raise SourceUnavailable(f"{self.root_dir.strip()} is not a local folder")
        return _local_path(self.root_dir)

    @property
    def location(self) -> str:
        """The resolved folder, or the normalised `s3://bucket/prefix/` URL: what messages name."""
        return self.object_store().url if self.is_object_store else str(self.root)

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    def object_store(self, url: str | None = None) -> ObjectStore:
        """The object store behind an s3:// source; SourceUnavailable naming the URL otherwise."""
        from resources.object_store import ObjectStore, ObjectStoreError

        try:
            return ObjectStore(url or self.root_dir)
        except ObjectStoreError as exc:
            raise SourceUnavailable(f"document source {exc}") from exc

    def check(self) -> None:
        """Raise SourceUnavailable, naming the source, unless it exists and can be listed."""
        if self.is_object_store:
            from resources.object_store import ObjectStoreError

            store = self.object_store()
            try:
                store.check()
            except ObjectStoreError as exc:
                raise SourceUnavailable(f"document source {exc}") from exc
        else:
            self._check_folder(self.root)

    def _check_folder(self, folder: Path) -> None:
        shown = self.root_dir if folder == self.root else str(folder)
        if not folder.exists():
            raise SourceUnavailable(f"document source folder {shown!r} does not exist ({folder})")
        if not folder.is_dir():
            raise SourceUnavailable(f"document source {shown!r} is not a folder ({folder})")
        try:
            with os.scandir(folder):
                pass
        except OSError as exc:
            raise SourceUnavailable(f"document source folder {folder} cannot be listed: {exc}") from exc

    # ---- listing ---------------------------------------------------------------------------------

    def _patterns(self, value: str) -> list[str]:
        return [p.strip() for p in value.split(",") if p.strip()]

    def skip_reason(self, rel: str) -> str | None:
        """Why the file at `rel` (relative to the root) is not a document, or None if it is one."""
        name = rel.rsplit("/", 1)[-1]
        if name.startswith("."):
            return HIDDEN
        if name.endswith(PARTIAL_SUFFIXES):
            return PARTIAL_UPLOAD
        includes = self._patterns(self.include) or ["**/*"]
        if not any(_glob_match(rel, p) for p in includes) or any(
            _glob_match(rel, p) for p in self._patterns(self.exclude)
        ):
            return EXCLUDED
        if Path(name).suffix.lower() not in self.suffixes:
            return UNSUPPORTED_TYPE
        return None

    def scan(self, under: Path | str | None = None) -> Scan:
        """Every supported document under the root (or a folder / prefix inside it), sorted by key.

        Names that cannot be partition keys are returned in `rejected`, with the reason. A root
        that does not exist or cannot be listed raises SourceUnavailable naming it.
        """
        if not self.suffixes:
            raise ValueError("the document source has no file types to list: set `suffixes` (the parsers' registry)")
        if self.is_object_store:
            return self._scan_objects(under)
        rejected: list[tuple[str, str]] = []
        root = self.root
        start = _local_path(str(under)) if under is not None else root
        self.ensure_inside(start)
        self._check_folder(start)
        found: list[SourceFile] = []
        skipped: list[tuple[str, str]] = []
        stack = [start]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                rel = Path(entry.path).relative_to(root).as_posix()
                is_dir = entry.is_dir(follow_symlinks=False)
                if entry.name.startswith("."):
                    skipped.append((rel + "/" if is_dir else rel, HIDDEN))
                    continue
                if entry.is_symlink() or not (is_dir or entry.is_file(follow_symlinks=False)):
                    skipped.append((rel, NOT_REGULAR))
                    continue
                if is_dir:
                    stack.append(Path(entry.path))
                    continue
                reason = self.skip_reason(rel)
                if reason is not None:
                    skipped.append((rel, reason))
                    continue
                try:
                    key = partition_key_for(rel)
                except InvalidDocumentName as exc:
                    rejected.append((rel, str(exc)))
                    continue
                st = entry.stat(follow_symlinks=False)
                found.append(SourceFile(key, Path(entry.path), st.st_size, st.st_mtime_ns))
        found.sort(key=lambda f: f.key)
        return Scan(found, rejected, sorted(skipped))

    def _scan_objects(self, under: Path | str | None) -> Scan:
        """One paginated listing (1,000 keys a request, no per-object request)."""
        from resources.object_store import ObjectEntry, ObjectStoreError

        store = self.object_store()
        below = ""
        if under is not None:
            sub = self.object_store(str(under))
            below = self.relative_prefix(sub.url)
            if below is None:
                raise SourceUnavailable(f"{sub.url} is outside the document source {store.url}")
            store = sub
        found: list[SourceFile] = []
        rejected: list[tuple[str, str]] = []
        skipped: dict[str, str] = {}
        try:
            for item in store.iter_objects():
                if item is None:
                    continue
                if isinstance(item, ObjectEntry):
                    rel = below + item.key
                    hidden_folder = _hidden_folder(rel)
                    if hidden_folder is not None:
                        skipped.setdefault(hidden_folder, HIDDEN)
                        continue
                    reason = self.skip_reason(rel)
                    if reason is not None:
                        skipped[rel] = reason
                        continue
                    try:
                        key = partition_key_for(rel)
                    except InvalidDocumentName as exc:
                        rejected.append((rel, str(exc)))
                        continue
                    found.append(SourceFile(key, None, item.size_bytes, _whole_seconds(item.mtime_ns), item.etag))
                else:
                    rel, reason = below + item[0], item[1]
                    if self.skip_reason(rel) is None:
                        rejected.append((rel, f"{rel!r}: {reason}"))
        except ObjectStoreError as exc:
            raise SourceUnavailable(f"document source {exc}") from exc
        found.sort(key=lambda f: f.key)
        return Scan(found, rejected, sorted(skipped.items()))

    def relative_prefix(self, url: str) -> str | None:
        """The key prefix of `url` relative to this s3:// source ('' for the root), or None if outside."""
        from resources.object_store import parse_s3_url

        mine, other = self.object_store().location, parse_s3_url(url)
        if other.bucket != mine.bucket or not other.prefix.startswith(mine.prefix):
            return None
        return other.prefix[len(mine.prefix) :]

    def ensure_inside(self, path: Path) -> None:
        root = self.root
        if path != root and root not in path.parents:
            raise InvalidDocumentName(f"{path} is outside the source root {root}")

    # ---- one document ----------------------------------------------------------------------------

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

    def _too_large(self, size: int, where: str) -> DocumentTooLarge:
        return DocumentTooLarge(
            f"too large: {size / 2**20:.0f} MB, the limit is {self.max_file_mb:g} MB (INGEST_MAX_FILE_MB): {where}"
        )

    def content_hash(self, key: str, listed: SourceFile | None = None) -> ContentHash:
        """sha256, size and mtime of a document's current content, refused over INGEST_MAX_FILE_MB.

        A file is hashed in place. An object is downloaded once (never past the limit) and kept
        for the `read` that follows; with `listed` (its listing entry), an object whose ETag and
        size are those of an object already hashed by this process is not downloaded again.
        """
        partition_key_for(key)
        if not self.is_object_store:
            path = self.path_for(key)
            size = os.stat(path, follow_symlinks=False).st_size
            if size > self.max_bytes:
                raise self._too_large(size, str(path))
            digest, st = hash_file(path)
            return ContentHash(digest, st.st_size, st.st_mtime_ns)
        store = self.object_store()
        if listed is not None and listed.etag:
            if listed.size_bytes > self.max_bytes:
                raise self._too_large(listed.size_bytes, store.location.url_for(key))
            known = _OBJECT_HASHES.get((store.url, key, listed.etag, listed.size_bytes))
            if known is not None:
                return ContentHash(known, listed.size_bytes, listed.mtime_ns)
        with self._object_errors():
            content = store.read(key, self.max_bytes)
        digest = hashlib.sha256(content.data).hexdigest()
        _OBJECT_HASHES.put((store.url, key, content.etag, content.size_bytes), digest)
        _OBJECT_BODIES.put((store.url, key, digest), content.data)
        return ContentHash(digest, content.size_bytes, _whole_seconds(content.mtime_ns))

    def read(self, key: str, content_hash: str) -> bytes:
        """The document's bytes, refused (FileChangedWhileReading) unless they are the bytes hashed."""
        partition_key_for(key)
        if not self.is_object_store:
            return read_exact(self.path_for(key), content_hash)
        store = self.object_store()
        data = _OBJECT_BODIES.get((store.url, key, content_hash), pop=True)
        if data is None:
            with self._object_errors():
                data = store.read(key, self.max_bytes).data
        if hashlib.sha256(data).hexdigest() != content_hash:
            raise FileChangedWhileReading(store.location.url_for(key))
        return data

    def stat_fingerprint(self, key: str) -> dict[str, int]:
        """Size and mtime of a document, or nothing if it cannot be stat'ed."""
        if self.is_object_store:
            from resources.object_store import ObjectStoreError

            try:
                entry = self.object_store().stat(key)
            except (ObjectStoreError, SourceUnavailable):
                return {}
            return {"size_bytes": entry.size_bytes, "mtime_ns": _whole_seconds(entry.mtime_ns)}
        try:
            st = os.lstat(self.root.joinpath(*key.split("/")))
        except (OSError, ValueError):
            return {}
        return {"size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns}

    def exists(self, key: str) -> bool:
        """Whether the document's file or object is there (a dangling symlink counts as there)."""
        if not self.is_object_store:
            return os.path.lexists(self.root.joinpath(*key.split("/")))
        from resources.object_store import ObjectNotFound, ObjectStoreError

        try:
            self.object_store().stat(key)
        except ObjectNotFound:
            return False
        except ObjectStoreError as exc:
            raise SourceUnavailable(f"document source {exc}") from exc
        return True

    def missing(self, keys: Iterable[str]) -> set[str]:
        """The keys whose file or object is not there; one listing for an object store."""
        keys = set(keys)
        if not keys:
            return set()
        if not self.is_object_store:
            return {k for k in keys if not self.exists(k)}
        from resources.object_store import ObjectEntry, ObjectStoreError

        present: set[str] = set()
        try:
            for item in self.object_store().iter_objects():
                if isinstance(item, ObjectEntry):
                    present.add(item.key)
                elif item is not None:
                    present.add(item[0])
        except ObjectStoreError as exc:
            raise SourceUnavailable(f"document source {exc}") from exc
        return keys - present

    def uri_for(self, key: str) -> str:
        """`file:///...` or `s3://bucket/prefix/key`."""
        if self.is_object_store:
            return self.object_store().location.url_for(key)
        return self.root.joinpath(*PurePosixPath(key).parts).as_uri()

    def display(self, key: str) -> str:
        """What metadata and messages show for a document: its path, or its s3:// URL."""
        if self.is_object_store:
            return self.uri_for(key)
        return str(self.root.joinpath(*key.split("/")))

    @contextmanager
    def _object_errors(self) -> Iterator[None]:
        """Object-store errors as the OSError / ValueError a failed document is recorded with
        (ObjectNotFound is a FileNotFoundError, AccessDenied a PermissionError); each names the URL."""
        from resources.object_store import ObjectStoreError, ObjectTooLarge

        try:
            yield
        except ObjectTooLarge as exc:
            raise self._too_large(exc.size_bytes, exc.url) from exc
        except ObjectStoreError as exc:
            if isinstance(exc, OSError | ValueError):
                raise
            raise SourceReadError(str(exc)) from exc


def _hidden_folder(rel: str) -> str | None:
    """The first hidden folder (`.git/`) on the way to `rel`, if any."""
    parts = rel.split("/")[:-1]
    for i, part in enumerate(parts):
        if part.startswith("."):
            return "/".join(parts[: i + 1]) + "/"
    return None


def _glob_match(rel: str, pattern: str) -> bool:
    if pattern in ("**/*", "**", "*"):
        return True
    if pattern.startswith("**/"):
        return fnmatch.fnmatchcase(rel, pattern[3:]) or fnmatch.fnmatchcase(rel, pattern)
    return fnmatch.fnmatchcase(rel, pattern)
