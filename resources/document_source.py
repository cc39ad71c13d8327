"""The `source` resource: where documents are ingested from (a folder or `s3://bucket/prefix/`), the names
that are documents, and what to do when documents vanish from it.

The resource picks the kind of source from its URL (`resources/sources/`); the pipeline only
lists with `scan`, fingerprints with `content_hash`, reads with `read` and names documents with
`uri_for`/`display`, so one code path serves every kind.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg
from pydantic import Field, PrivateAttr

from resources.sources.base import ContentHash, Scan, Source, SourceFile, SourceUnavailable
from resources.sources.naming import NameRules

_MOVED_TO_PARSER = "Deprecated: configure the `parser` resource; a value set here still overrides it."


def is_remote(location: str) -> bool:
    """True for `scheme://...` other than `file://`: an object-store URL (or an unsupported one)."""
    from resources.object_store import is_object_store_url

    value = location.strip()
    return is_object_store_url(value) and not value.lower().startswith("file://")


def open_source(location: str, rules: NameRules, max_bytes: int) -> Source:
    """The source behind a folder path, `file://` or `s3://` URL; SourceUnavailable naming an unusable URL."""
    if not is_remote(location):
        from resources.sources.folder import FolderSource, local_path

        return FolderSource(local_path(location), rules, max_bytes, shown=location)
    from resources.object_store import ObjectStore, ObjectStoreError
    from resources.sources.bucket import BucketSource

    try:
        store = ObjectStore(location)
    except ObjectStoreError as exc:
        raise SourceUnavailable(f"document source {exc}") from exc
    return BucketSource(store, rules, max_bytes)


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
    keep_deleted: bool = Field(
        default=False,
        description="Keep the rows of documents whose file is gone (INGEST_KEEP_DELETED); by default they are purged.",
    )
    deletion_guard_share: float = Field(
        default=0.5,
        description="Hold a purge, until `ingestctl confirm-deletions`, when more than this share of the known "
        "documents vanish at once (INGEST_DELETION_GUARD_SHARE)...",
    )
    deletion_guard_count: int = Field(
        default=10,
        description="...and more than this many (INGEST_DELETION_GUARD_COUNT); an empty listing of a source "
        "that had documents is always held.",
    )
    max_pages: int | None = Field(default=None, description=_MOVED_TO_PARSER)
    max_parse_seconds: float | None = Field(default=None, description=_MOVED_TO_PARSER)
    ocr: bool | None = Field(default=None, description=_MOVED_TO_PARSER)

    _opened: Source | None = PrivateAttr(default=None)

    @property
    def source(self) -> Source:
        """The folder or bucket behind `root_dir`, opened once per resource instance: what it caches lives
        as long as the resource (one run, one sensor tick, one CLI command)."""
        if self._opened is None:
            if not self.suffixes:
                raise ValueError(
                    "the document source has no file types to list: set `suffixes` (the parsers' registry)"
                )
            rules = NameRules(frozenset(self.suffixes), self.include, self.exclude)
            self._opened = open_source(self.root_dir, rules, self.max_bytes)
        return self._opened

    @property
    def location(self) -> str:
        return self.source.location

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    def check(self) -> None:
        self.source.check()

    def scope(self, target: str) -> str | None:
        return self.source.scope(target)

    def scan(self, under: str = "") -> Scan:
        return self.source.list(under)

    def content_hash(self, key: str, listed: SourceFile | None = None) -> ContentHash:
        return self.source.content_hash(key, listed)

    def read(self, key: str, content_hash: str) -> bytes:
        return self.source.read(key, content_hash)

    def stat_fingerprint(self, key: str) -> dict[str, int]:
        return self.source.stat_fingerprint(key)

    def missing(self, keys: Iterable[str]) -> set[str]:
        return self.source.missing(keys)

    def uri_for(self, key: str) -> str:
        return self.source.uri_for(key)

    def display(self, key: str) -> str:
        return self.source.display(key)

    def parse_name(self, key: str) -> str:
        return self.source.parse_name(key)
