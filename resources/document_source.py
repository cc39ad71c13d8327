"""The `source` resource: where documents are ingested from (a folder, `s3://bucket/prefix/` or a site), the names
that are documents, and what to do when documents vanish from it.

The resource picks the kind of source from its URL (`resources/sources/`); the pipeline only
lists with `scan`, fingerprints with `content_hash`, reads with `read` and names documents with
`uri_for`/`display`, so one code path serves every kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field, PrivateAttr

from resources.sources.base import ContentHash, Scan, Source, SourceFile, SourceUnavailable
from resources.sources.naming import NameRules
from resources.tables import DEFAULT_SOURCE, doc_id_for, key_for

if TYPE_CHECKING:
    from resources.sources.web import WebSettings

_MOVED_TO_PARSER = "Deprecated: configure the `parser` resource; a value set here still overrides it."


def is_web(location: str) -> bool:
    """True for an `http://` or `https://` URL: a site."""
    return location.strip().lower().startswith(("http://", "https://"))


def is_remote(location: str) -> bool:
    """True for `scheme://...` other than `file://`: an object-store URL (or an unsupported one)."""
    from resources.object_store import is_object_store_url

    value = location.strip()
    return is_object_store_url(value) and not value.lower().startswith("file://")


def open_source(
    location: str, rules: NameRules, max_bytes: int, aws_env_prefix: str = "", web: WebSettings | None = None
) -> Source:
    """The source behind a folder path, `file://`, `s3://` or `http(s)://` URL; SourceUnavailable naming an
    unusable URL."""
    if is_web(location):
        from resources.sources.web import WebSource

        return WebSource(location.strip(), rules, max_bytes, web)
    if not is_remote(location):
        from resources.sources.folder import FolderSource, local_path

        return FolderSource(local_path(location), rules, max_bytes, shown=location)
    from resources.object_store import ObjectStore, ObjectStoreError
    from resources.sources.bucket import BucketSource

    try:
        store = ObjectStore(location, env_prefix=aws_env_prefix)
    except ObjectStoreError as exc:
        raise SourceUnavailable(f"document source {exc}") from exc
    return BucketSource(store, rules, max_bytes)


class DocumentSource(dg.ConfigurableResource):
    """The source root documents are read from (`INGEST_SOURCE_DIR`, default `inbox/`, or a source of
    `sources.yaml`): a local folder, or `s3://bucket/prefix/` on S3 or an S3-compatible server
    (configured by the AWS_* environment; see resources/object_store.py).

    In a folder only regular files inside the root are listed or read: symlinks are never
    followed, so nothing outside the root can be ingested. Every method speaks in document ids
    (`name:key` for a named source, the key itself for the default one).
    """

    name: str = Field(default=DEFAULT_SOURCE, description="The source's name: `default`, or its name in sources.yaml.")
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
    aws_env_prefix: str = Field(
        default="",
        description="A bucket's endpoint and credentials are read from `<prefix>AWS_*` instead of `AWS_*` "
        "(the source's `aws_env_prefix` in sources.yaml); never from run config.",
    )
    web_max_depth: int = Field(default=5, description="A site: link hops followed from the start page.")
    web_max_pages: int = Field(
        default=10_000, description="A site: URLs one listing fetches; a site with more is listed incomplete."
    )
    web_requests_per_second: float = Field(
        default=2.0, description="A site: requests per second to its host (robots.txt's Crawl-delay, if longer, wins)."
    )
    web_allowed_private_hosts: str = Field(
        default="",
        description="Hosts, comma-separated, a site may be on although they resolve to private or loopback "
        "addresses (INGEST_WEB_ALLOWED_PRIVATE_HOSTS); any other is refused.",
    )
    web_cache_path: str = Field(
        default="",
        description="SQLite file of a site's last crawl (ETags, links) for conditional re-crawls (INGEST_WEB_CACHE); "
        "empty: every listing downloads every page.",
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
            self._opened = open_source(self.root_dir, rules, self.max_bytes, self.aws_env_prefix, self.web_settings())
        return self._opened

    def web_settings(self) -> WebSettings:
        """How a site is crawled (unused for folders and buckets)."""
        from pathlib import Path

        from resources.sources.web import WebSettings, allowed_hosts

        return WebSettings(
            max_depth=self.web_max_depth,
            max_pages=self.web_max_pages,
            requests_per_second=self.web_requests_per_second,
            allowed_private_hosts=allowed_hosts(self.web_allowed_private_hosts),
            cache_path=Path(self.web_cache_path) if self.web_cache_path else None,
        )

    @property
    def location(self) -> str:
        return self.source.location

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    def check(self) -> None:
        self.source.check()

    def scope(self, target: str) -> str | None:
        """The document-id prefix of a folder or URL inside this source, or None if outside it."""
        prefix = self.source.scope(target)
        return None if prefix is None else doc_id_for(self.name, prefix)

    def scan(self, under: str = "") -> Scan:
        """The listing below the document-id prefix `under`, its keys turned into document ids."""
        scan = self.source.list(key_for(self.name, under) if under else "")
        if self.name == DEFAULT_SOURCE:
            return scan
        return replace(
            scan,
            files=[replace(f, key=doc_id_for(self.name, f.key)) for f in scan.files],
            rejected=[(doc_id_for(self.name, rel), reason) for rel, reason in scan.rejected],
            under=doc_id_for(self.name, scan.under),
        )

    def key(self, doc_id: str) -> str:
        """The key of a document in its source (its path under the root)."""
        return key_for(self.name, doc_id)

    def content_hash(self, doc_id: str, listed: SourceFile | None = None) -> ContentHash:
        key = self.key(doc_id)
        return self.source.content_hash(
            key, listed if listed is None or listed.key == key else replace(listed, key=key)
        )

    def read(self, doc_id: str, content_hash: str) -> bytes:
        return self.source.read(self.key(doc_id), content_hash)

    def stat_fingerprint(self, doc_id: str) -> dict[str, int]:
        return self.source.stat_fingerprint(self.key(doc_id))

    def missing(self, doc_ids: Iterable[str]) -> set[str]:
        by_key = {self.key(doc_id): doc_id for doc_id in doc_ids}
        return {by_key[key] for key in self.source.missing(by_key)}

    def uri_for(self, doc_id: str) -> str:
        return self.source.uri_for(self.key(doc_id))

    def display(self, doc_id: str) -> str:
        return self.source.display(self.key(doc_id))

    def parse_name(self, doc_id: str) -> str:
        return self.source.parse_name(self.key(doc_id))
