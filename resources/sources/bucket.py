"""An `s3://bucket/prefix/` location as a source, with the object caches of one source's lifetime."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from resources.sources.base import (
    ContentHash,
    FileChangedWhileReading,
    Scan,
    Source,
    SourceFile,
    SourceReadError,
    SourceUnavailable,
)
from resources.sources.naming import HIDDEN, InvalidDocumentName, NameRules, hidden_folder, partition_key_for

if TYPE_CHECKING:
    from resources.object_store import ObjectStore

HASHES_KEPT = 200_000
"""(key, ETag, size) -> sha256 entries a bucket source remembers."""
BODIES_KEPT_BYTES = 64 << 20
"""Bytes of downloaded objects a bucket source keeps for the `read` that follows their hashing."""


def whole_seconds(ns: int) -> int:
    """S3 keeps LastModified to the second, but listings show milliseconds and HEAD/GET do not:
    objects are fingerprinted to the second so that the listing and a read always agree."""
    return ns - ns % 1_000_000_000


class BoundedCache:
    """A small thread-safe LRU map with a cost limit (entries, or bytes with `cost=len`)."""

    def __init__(self, limit: int, cost: Callable[[object], int] = lambda value: 1) -> None:
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

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.used = 0


class BucketSource(Source):
    """One paginated listing (1,000 keys a request) lists it; an object is downloaded at most once
    to be hashed and read: its bytes are kept for the `read` that follows (bounded, released by
    `close`), and an object whose ETag and size were already hashed is not downloaded again."""

    def __init__(self, store: ObjectStore, rules: NameRules, max_bytes: int) -> None:
        super().__init__(rules, max_bytes)
        self.store = store
        self.hashes = BoundedCache(HASHES_KEPT)
        self.bodies = BoundedCache(BODIES_KEPT_BYTES, cost=len)

    @property
    def location(self) -> str:
        return self.store.url

    def check(self) -> None:
        from resources.object_store import ObjectStoreError

        try:
            self.store.check()
        except ObjectStoreError as exc:
            raise SourceUnavailable(f"document source {exc}") from exc

    def scope(self, target: str) -> str | None:
        from resources.object_store import UnsupportedURL, is_object_store_url, parse_s3_url

        if not is_object_store_url(target):
            return None
        try:
            other = parse_s3_url(target)
        except UnsupportedURL as exc:
            raise SourceUnavailable(f"document source {exc}") from exc
        mine = self.store.location
        if other.bucket != mine.bucket or not other.prefix.startswith(mine.prefix):
            return None
        return other.prefix[len(mine.prefix) :]

    def list(self, under: str = "") -> Scan:
        from resources.object_store import ObjectEntry, ObjectStore, ObjectStoreError

        store = ObjectStore(self.store.location.url_for(under)) if under else self.store
        found: list[SourceFile] = []
        rejected: list[tuple[str, str]] = []
        skipped: dict[str, str] = {}
        try:
            for item in store.iter_objects():
                if item is None:
                    continue
                if isinstance(item, ObjectEntry):
                    rel = under + item.key
                    folder = hidden_folder(rel)
                    if folder is not None:
                        skipped.setdefault(folder, HIDDEN)
                        continue
                    reason = self.rules.skip_reason(rel)
                    if reason is not None:
                        skipped[rel] = reason
                        continue
                    try:
                        key = partition_key_for(rel)
                    except InvalidDocumentName as exc:
                        rejected.append((rel, str(exc)))
                        continue
                    found.append(SourceFile(key, None, item.size_bytes, whole_seconds(item.mtime_ns), item.etag))
                else:
                    rel, reason = under + item[0], item[1]
                    if self.rules.skip_reason(rel) is None:
                        rejected.append((rel, f"{rel!r}: {reason}"))
        except ObjectStoreError as exc:
            raise SourceUnavailable(f"document source {exc}") from exc
        found.sort(key=lambda f: f.key)
        return Scan(found, rejected, sorted(skipped.items()), under)

    def content_hash(self, key: str, listed: SourceFile | None = None) -> ContentHash:
        partition_key_for(key)
        if listed is not None and listed.etag:
            if listed.size_bytes > self.max_bytes:
                raise self.too_large(listed.size_bytes, self.uri_for(key))
            known = self.hashes.get((key, listed.etag, listed.size_bytes))
            if known is not None:
                return ContentHash(known, listed.size_bytes, listed.mtime_ns)
        with self._object_errors():
            content = self.store.read(key, self.max_bytes)
        digest = hashlib.sha256(content.data).hexdigest()
        self.hashes.put((key, content.etag, content.size_bytes), digest)
        self.bodies.put((key, digest), content.data)
        return ContentHash(digest, content.size_bytes, whole_seconds(content.mtime_ns))

    def read(self, key: str, content_hash: str) -> bytes:
        partition_key_for(key)
        data = self.bodies.get((key, content_hash), pop=True)
        if data is None:
            with self._object_errors():
                data = self.store.read(key, self.max_bytes).data
        if hashlib.sha256(data).hexdigest() != content_hash:
            raise FileChangedWhileReading(self.uri_for(key))
        return data

    def stat_fingerprint(self, key: str) -> dict[str, int]:
        from resources.object_store import ObjectStoreError

        try:
            entry = self.store.stat(key)
        except ObjectStoreError:
            return {}
        return {"size_bytes": entry.size_bytes, "mtime_ns": whole_seconds(entry.mtime_ns)}

    def uri_for(self, key: str) -> str:
        return self.store.location.url_for(key)

    def close(self) -> None:
        """Drop the downloaded bytes; the remembered hashes are small and stay bounded."""
        self.bodies.clear()

    @contextmanager
    def _object_errors(self) -> Iterator[None]:
        """Object-store errors as the OSError / ValueError a failed document is recorded with
        (ObjectNotFound is a FileNotFoundError, AccessDenied a PermissionError); each names the URL."""
        from resources.object_store import ObjectStoreError, ObjectTooLarge

        try:
            yield
        except ObjectTooLarge as exc:
            raise self.too_large(exc.size_bytes, exc.url) from exc
        except ObjectStoreError as exc:
            if isinstance(exc, OSError | ValueError):
                raise
            raise SourceReadError(str(exc)) from exc
