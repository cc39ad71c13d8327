"""A local folder as a source: regular files inside the root, symlinks never followed."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from resources.sources.base import ContentHash, Scan, Source, SourceFile, SourceUnavailable, hash_file, read_exact
from resources.sources.naming import HIDDEN, NOT_REGULAR, InvalidDocumentName, NameRules, partition_key_for


def local_path(location: str) -> Path:
    """A folder given as a path or a `file://` URL, resolved."""
    value = location.strip()
    if value.lower().startswith("file://"):
        value = unquote(urlparse(value).path)
    return Path(value).expanduser().resolve()


class FolderSource(Source):
    """Only regular files inside the root are listed or read, so nothing outside it can be ingested."""

    def __init__(self, root: Path, rules: NameRules, max_bytes: int, shown: str | None = None) -> None:
        super().__init__(rules, max_bytes)
        self.root = root
        self.shown = shown or str(root)

    @property
    def location(self) -> str:
        return str(self.root)

    def check(self) -> None:
        self._check_folder(self.root)

    def _check_folder(self, folder: Path) -> None:
        shown = self.shown if folder == self.root else str(folder)
        if not folder.exists():
            raise SourceUnavailable(f"document source folder {shown!r} does not exist ({folder})")
        if not folder.is_dir():
            raise SourceUnavailable(f"document source {shown!r} is not a folder ({folder})")
        try:
            with os.scandir(folder):
                pass
        except OSError as exc:
            raise SourceUnavailable(f"document source folder {folder} cannot be listed: {exc}") from exc

    def scope(self, target: str) -> str | None:
        from resources.object_store import is_object_store_url

        if is_object_store_url(target) and not target.strip().lower().startswith("file://"):
            return None
        folder = local_path(target)
        if folder == self.root:
            return ""
        if self.root in folder.parents:
            return folder.relative_to(self.root).as_posix() + "/"
        return None

    def list(self, under: str = "") -> Scan:
        start = self.root.joinpath(*PurePosixPath(under).parts) if under else self.root
        self._check_folder(start)
        found: list[SourceFile] = []
        rejected: list[tuple[str, str]] = []
        skipped: list[tuple[str, str]] = []
        stack = [start]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                rel = Path(entry.path).relative_to(self.root).as_posix()
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
                reason = self.rules.skip_reason(rel)
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
        return Scan(found, rejected, sorted(skipped), under)

    def path_for(self, key: str) -> Path:
        """The file behind a partition key; refuses anything that is not a regular file inside the root."""
        partition_key_for(key)
        path = self.root.joinpath(*PurePosixPath(key).parts)
        parent = path.parent.resolve()
        if parent != self.root and self.root not in parent.parents:
            raise InvalidDocumentName(f"{path} is outside the source root {self.root}")
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{key!r}: file no longer exists under {self.root}") from exc
        if stat.S_ISLNK(mode):
            raise InvalidDocumentName(f"{key!r}: symbolic links are not followed")
        if not stat.S_ISREG(mode):
            raise InvalidDocumentName(f"{key!r}: not a regular file")
        return path

    def content_hash(self, key: str, listed: SourceFile | None = None) -> ContentHash:
        path = self.path_for(key)
        size = os.stat(path, follow_symlinks=False).st_size
        if size > self.max_bytes:
            raise self.too_large(size, str(path))
        digest, st = hash_file(path)
        return ContentHash(digest, st.st_size, st.st_mtime_ns)

    def read(self, key: str, content_hash: str) -> bytes:
        return read_exact(self.path_for(key), content_hash)

    def stat_fingerprint(self, key: str) -> dict[str, int]:
        try:
            st = os.lstat(self.root.joinpath(*key.split("/")))
        except (OSError, ValueError):
            return {}
        return {"size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns}

    def uri_for(self, key: str) -> str:
        return self.root.joinpath(*PurePosixPath(key).parts).as_uri()

    def display(self, key: str) -> str:
        return str(self.root.joinpath(*key.split("/")))

    def missing(self, keys) -> set[str]:
        """Keys whose file is not there (a dangling symlink counts as there): one lstat each, no listing."""
        return {k for k in keys if not os.path.lexists(self.root.joinpath(*k.split("/")))}
