"""The object-store side of a document source: `s3://bucket/prefix/` on AWS S3 or any S3-compatible server.

Configuration comes only from the standard AWS environment, the same variables LanceDB reads, so one
set configures both and no credential ever appears in run config, metadata or the UI:

- `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`, or object_store's `AWS_ENDPOINT`): an S3-compatible
  server; path-style requests are used with it, as LanceDB does, unless
  `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`.
- `AWS_ALLOW_HTTP=true`: required for a plain `http://` endpoint (LanceDB refuses one without it, so
  this module does too, rather than reading documents that LanceDB then cannot store).
- `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
  `AWS_SESSION_TOKEN`, `AWS_PROFILE`, instance/role credentials: the usual AWS credential chain.

A source of `sources.yaml` on another endpoint or account names an `aws_env_prefix` (`REPORTS_`): its
bucket then reads the same variables with that prefix (`REPORTS_AWS_ENDPOINT_URL`,
`REPORTS_AWS_ACCESS_KEY_ID`...), and only those credentials.

The client is boto3/botocore, imported lazily: importing this module imports neither. Keys are taken
raw from ListObjectsV2, so a key that is not a clean relative path (`a//b.txt`, `./x.txt`,
`../x.txt`) is reported in `rejected` instead of breaking the listing of every other document.

Every error is one of the `ObjectStoreError` subclasses below, and its message names the s3:// URL.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SCHEME = "s3"
"""Names of objects still being delivered (the same rule as the local folder)."""

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 60.0
LIST_PAGE_SIZE = 1000
_READ_CHUNK = 1 << 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_TRUE = {"1", "true", "yes", "on"}


# --------------------------------------------------------------------------------------------------
# Errors


class ObjectStoreError(RuntimeError):
    """Any failure talking to the object store; `url` is the s3:// URL concerned."""

    def __init__(self, message: str, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class UnsupportedURL(ObjectStoreError, ValueError):
    """Not an `s3://bucket/prefix/` URL (another scheme, a bad bucket name, credentials in the URL...)."""


class ObjectStoreConfigError(ObjectStoreError, ValueError):
    """The AWS_* environment cannot work (e.g. an http:// endpoint without AWS_ALLOW_HTTP=true)."""


class BucketNotFound(ObjectStoreError, FileNotFoundError):
    """The bucket does not exist (NoSuchBucket)."""


class ObjectNotFound(ObjectStoreError, FileNotFoundError):
    """The object does not exist (NoSuchKey): deleted since it was listed, or never there."""


class AccessDenied(ObjectStoreError, PermissionError):
    """403: the credentials are missing, unknown, or not allowed to do this."""


class EndpointUnreachable(ObjectStoreError, ConnectionError):
    """The endpoint did not answer (connection refused, DNS failure, timeout)."""


class ObjectTooLarge(ObjectStoreError, ValueError):
    """The object is larger than the limit; nothing of its body was read."""

    def __init__(self, message: str, url: str = "", size_bytes: int = 0, max_bytes: int = 0) -> None:
        super().__init__(message, url)
        self.size_bytes = size_bytes
        self.max_bytes = max_bytes


class ObjectChanged(ObjectStoreError):
    """The object's ETag is no longer the one listed (replaced between listing and reading)."""


# --------------------------------------------------------------------------------------------------
# URLs


def is_object_store_url(value: str) -> bool:
    """True for anything shaped `scheme://...` (a local path never is): such a value is either an
    s3:// URL or an error from `parse_s3_url`, never silently a folder named `s3:`."""
    return bool(_SCHEME_RE.match(value.strip()))


def _redact(url: str) -> str:
    """The URL without any `user:secret@` part, for messages."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1***@", url.strip())


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix: `prefix` is "" or ends with "/"."""

    bucket: str
    prefix: str = ""

    @property
    def url(self) -> str:
        return f"{SCHEME}://{self.bucket}/{self.prefix}"

    def key_for(self, relative: str) -> str:
        """The full object key of a key relative to the prefix."""
        return self.prefix + relative

    def url_for(self, relative: str) -> str:
        return f"{SCHEME}://{self.bucket}/{self.prefix}{relative}"


def parse_s3_url(url: str) -> S3Location:
    """`s3://bucket`, `s3://bucket/`, `s3://bucket/some/prefix[/]` -> S3Location.

    Raises UnsupportedURL, naming the URL, for other schemes, a missing or invalid bucket name,
    credentials embedded in the URL, a query or fragment, or a prefix with empty, `.` or `..` parts.
    """
    raw = url.strip()
    shown = _redact(raw)
    match = _SCHEME_RE.match(raw)
    if not match:
        raise UnsupportedURL(f"{shown!r} is not an object-store URL; expected s3://bucket/prefix/", shown)
    scheme = match.group(1).lower()
    if scheme != SCHEME:
        raise UnsupportedURL(
            f"{shown!r}: unsupported URL scheme {scheme + '://'!r}; only s3://bucket/prefix/ is supported "
            "(S3 or an S3-compatible server given by AWS_ENDPOINT_URL)",
            shown,
        )
    rest = raw[match.end() :]
    if "?" in rest or "#" in rest:
        raise UnsupportedURL(f"{shown!r}: query strings and fragments are not supported in s3:// URLs", shown)
    bucket, _, prefix = rest.partition("/")
    if "@" in bucket or ":" in bucket:
        raise UnsupportedURL(
            f"{shown!r}: credentials or ports do not belong in the URL; set AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL instead",
            shown,
        )
    if not bucket:
        raise UnsupportedURL(f"{shown!r}: no bucket name; expected s3://bucket/prefix/", shown)
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise UnsupportedURL(
            f"{shown!r}: {bucket!r} is not a valid bucket name (3-63 characters: lowercase letters, digits, '.', '-')",
            shown,
        )
    prefix = prefix.strip("/")
    if prefix:
        parts = prefix.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise UnsupportedURL(f"{shown!r}: the prefix may not contain empty, '.' or '..' parts", shown)
        prefix += "/"
    return S3Location(bucket, prefix)


# --------------------------------------------------------------------------------------------------
# Listing and reading


@dataclass(frozen=True)
class ObjectEntry:
    """One listed object: `key` is relative to the location's prefix."""

    key: str
    size_bytes: int
    mtime_ns: int
    etag: str


@dataclass(frozen=True)
class ObjectListing:
    """Every wanted object under the prefix, sorted by key, and the keys refused, with the reason."""

    location: S3Location
    entries: list[ObjectEntry]
    rejected: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0
    """Folder markers, hidden and partial objects left out."""


@dataclass(frozen=True)
class ObjectContent:
    """What one read actually returned: the bytes and the size/ETag/mtime of that version."""

    key: str
    data: bytes
    size_bytes: int
    etag: str
    mtime_ns: int


def _ns(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1) * 1000


def relative_key_problem(relative: str) -> str | None:
    """Why a key (relative to the prefix) cannot be a document, or None.

    Such keys are legal in S3 but are not one clean relative path, so a partition key derived
    from them would name another object (`a//b` -> `a/b`).
    """
    if relative.startswith("/"):
        return "key starts with '/' (empty path part)"
    parts = relative.split("/")
    if "" in parts:
        return "key contains an empty path part ('//')"
    if "." in parts or ".." in parts:
        return "key contains a '.' or '..' path part"
    return None


def _skip(relative: str) -> bool:
    """Folder markers (`name/`), hidden names and partial uploads (`resources/sources/naming.py`)."""
    from resources.sources.naming import hidden_or_partial

    return relative == "" or relative.endswith("/") or hidden_or_partial(relative)


class ObjectStore:
    """One `s3://bucket/prefix/` location, read with the environment's AWS configuration.

    `max_attempts` counts the first try (botocore "standard" retries: throttling, 5xx and
    connection errors).
    """

    def __init__(
        self,
        url: str,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        env_prefix: str = "",
    ) -> None:
        self.location = parse_s3_url(url)
        self.env_prefix = env_prefix
        self.max_attempts = max_attempts
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s

    @property
    def url(self) -> str:
        return self.location.url

    # ---- listing ---------------------------------------------------------------------------------

    def iter_objects(self) -> Iterator[ObjectEntry | tuple[str, str] | None]:
        """Every object under the prefix, page by page (1,000 keys a request), in key order.

        Yields an ObjectEntry for an object, also a hidden one or a partial upload (the caller says
        why it is not a document), `(relative_key, reason)` for a refused key and None for a folder
        marker.
        """
        client = self._client()
        paginator = client.get_paginator("list_objects_v2")
        loc = self.location
        # botocore asks for url-encoded keys itself and decodes them (keys with control characters
        # survive the XML), so the keys here are the raw ones.
        pages = paginator.paginate(Bucket=loc.bucket, Prefix=loc.prefix, PaginationConfig={"PageSize": LIST_PAGE_SIZE})
        try:
            for page in pages:
                for obj in page.get("Contents", ()):
                    relative = obj["Key"][len(loc.prefix) :]
                    if relative == "" or relative.endswith("/"):
                        yield None
                        continue
                    problem = None if _skip(relative) else relative_key_problem(relative)
                    if problem is not None:
                        yield (relative, problem)
                        continue
                    yield ObjectEntry(relative, int(obj["Size"]), _ns(obj["LastModified"]), obj.get("ETag", ""))
        except Exception as exc:
            raise self._translate(exc, loc.url, "list") from exc

    def list(self) -> ObjectListing:
        """All of `iter_objects`, collected and sorted by key (as the local folder scan is)."""
        entries: list[ObjectEntry] = []
        rejected: list[tuple[str, str]] = []
        skipped = 0
        for item in self.iter_objects():
            if item is None or (isinstance(item, ObjectEntry) and _skip(item.key)):
                skipped += 1
            elif isinstance(item, ObjectEntry):
                entries.append(item)
            else:
                rejected.append(item)
        entries.sort(key=lambda e: e.key)
        return ObjectListing(self.location, entries, rejected, skipped)

    def check(self) -> None:
        """Raise unless the bucket exists and the prefix can be listed (an empty prefix is fine).

        Makes `INGEST_SOURCE_DIR=s3://missing/` an error (BucketNotFound, AccessDenied,
        EndpointUnreachable...) instead of a source with 0 documents.
        """
        loc = self.location
        try:
            self._client().list_objects_v2(Bucket=loc.bucket, Prefix=loc.prefix, MaxKeys=1)
        except Exception as exc:
            raise self._translate(exc, loc.url, "list") from exc

    # ---- single objects --------------------------------------------------------------------------

    def stat(self, key: str) -> ObjectEntry:
        """Size, mtime and ETag of one object (HEAD); ObjectNotFound when it is gone."""
        url = self._checked_url(key)
        try:
            head = self._client().head_object(Bucket=self.location.bucket, Key=self.location.key_for(key))
        except Exception as exc:
            raise self._translate(exc, url, "head") from exc
        return ObjectEntry(key, int(head["ContentLength"]), _ns(head["LastModified"]), head.get("ETag", ""))

    def read(self, key: str, max_bytes: int, expected_etag: str | None = None) -> ObjectContent:
        """The whole object, refusing it (ObjectTooLarge) before reading its body when it is larger
        than `max_bytes`. With `expected_etag` (from the listing), a replaced object raises
        ObjectChanged instead of returning content that does not match the listed size/mtime.
        """
        url = self._checked_url(key)
        args: dict[str, Any] = {"Bucket": self.location.bucket, "Key": self.location.key_for(key)}
        if expected_etag:
            args["IfMatch"] = expected_etag
        try:
            response = self._client().get_object(**args)
        except Exception as exc:
            raise self._translate(exc, url, "read") from exc
        body = response["Body"]
        try:
            size = int(response.get("ContentLength", -1))
            if size > max_bytes:
                raise ObjectTooLarge(
                    f"{url}: {size:,} bytes is over the limit of {max_bytes:,} bytes; not downloaded",
                    url,
                    size,
                    max_bytes,
                )
            chunks: list[bytes] = []
            total = 0
            try:
                for chunk in body.iter_chunks(_READ_CHUNK):
                    total += len(chunk)
                    if total > max_bytes:
                        raise ObjectTooLarge(
                            f"{url}: more than {max_bytes:,} bytes received; download abandoned", url, total, max_bytes
                        )
                    chunks.append(chunk)
            except ObjectStoreError:
                raise
            except Exception as exc:
                raise self._translate(exc, url, "read") from exc
        finally:
            body.close()
        data = b"".join(chunks)
        if size >= 0 and len(data) != size:
            raise ObjectStoreError(f"{url}: read {len(data):,} bytes but the server announced {size:,}", url)
        return ObjectContent(key, data, len(data), response.get("ETag", ""), _ns(response["LastModified"]))

    # ---- internals -------------------------------------------------------------------------------

    def _checked_url(self, key: str) -> str:
        url = self.location.url_for(key)
        problem = relative_key_problem(key) if key else "empty key"
        if problem is not None:
            raise ObjectStoreError(f"{url}: {problem}", url)
        return url

    def _client(self) -> Any:
        return _client_for(
            self.max_attempts, self.connect_timeout_s, self.read_timeout_s, self.location.url, self.env_prefix
        )

    def _translate(self, exc: Exception, url: str, action: str) -> ObjectStoreError:
        return translate_error(exc, url, action)


# --------------------------------------------------------------------------------------------------
# Module-level conveniences


def list_objects(url: str, **options: Any) -> ObjectListing:
    return ObjectStore(url, **options).list()


def read_object(url: str, key: str, max_bytes: int, expected_etag: str | None = None, **options: Any) -> ObjectContent:
    return ObjectStore(url, **options).read(key, max_bytes, expected_etag)


def check_source(url: str, **options: Any) -> None:
    ObjectStore(url, **options).check()


def check_conditional_put(url: str, **options: Any) -> None:
    """Raise unless the server honours `If-None-Match: *` on PUT, which LanceDB's commits rely on.

    Lance writes each table version's manifest with a conditional PUT; a server that ignores the
    header lets two concurrent commits overwrite each other (lost writes). Writes and deletes one
    hidden probe object under `url` (the LanceDB URI), so it needs write access there.
    """
    import secrets

    store = ObjectStore(url, **options)
    loc = store.location
    name = f".ingest-conditional-put-probe-{secrets.token_hex(8)}"
    key, probe_url = loc.key_for(name), loc.url_for(name)
    client = store._client()
    try:
        client.put_object(Bucket=loc.bucket, Key=key, Body=b"1", IfNoneMatch="*")
        try:
            client.put_object(Bucket=loc.bucket, Key=key, Body=b"2", IfNoneMatch="*")
        except Exception as exc:
            error = translate_error(exc, probe_url, "write")
            if isinstance(error, ObjectChanged) or "ConditionalRequestConflict" in str(exc):
                return
            raise error from exc
        raise ObjectStoreError(
            f"{loc.url}: the server ignores If-None-Match on PUT, so concurrent LanceDB commits could "
            "overwrite each other; use a server with conditional writes (AWS S3, MinIO, R2...) or s3+ddb://",
            loc.url,
        )
    except ObjectStoreError:
        raise
    except Exception as exc:
        raise translate_error(exc, probe_url, "write") from exc
    finally:
        try:
            client.delete_object(Bucket=loc.bucket, Key=key)
        except Exception:
            pass  # best effort: the probe's name is hidden, so no listing ever reports it


# --------------------------------------------------------------------------------------------------
# Environment -> client


def endpoint_from_env(prefix: str = "") -> str | None:
    """The endpoint LanceDB would use too: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or AWS_ENDPOINT (each after `prefix`)."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"):
        value = os.environ.get(prefix + name, "").strip()
        if value:
            return value
    return None


def region_from_env(prefix: str = "") -> str | None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = os.environ.get(prefix + name, "").strip()
        if value:
            return value
    return None


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def _credentials(prefix: str) -> dict[str, str | None]:
    """Explicit credentials of a prefixed environment (`REPORTS_AWS_ACCESS_KEY_ID`...); with no prefix, none:
    boto3's own chain (environment, profile, instance role) applies."""
    if not prefix:
        return {}
    values = {name: os.environ.get(prefix + name) or None for name in CREDENTIAL_VARIABLES}
    return {
        "aws_access_key_id": values["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": values["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": values["AWS_SESSION_TOKEN"],
        "profile_name": values["AWS_PROFILE"],
    }


_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def _client_for(
    max_attempts: int, connect_timeout_s: float, read_timeout_s: float, url: str, env_prefix: str = ""
) -> Any:
    endpoint = endpoint_from_env(env_prefix)
    if endpoint and endpoint.lower().startswith("http://") and not _env_true(env_prefix + "AWS_ALLOW_HTTP"):
        raise ObjectStoreConfigError(
            f"{url}: the endpoint {endpoint} is plain http; set {env_prefix}AWS_ALLOW_HTTP=true to allow it "
            "(LanceDB requires the same)",
            url,
        )
    virtual_hosted = _env_true(env_prefix + "AWS_VIRTUAL_HOSTED_STYLE_REQUEST")
    region = region_from_env(env_prefix)
    credentials = _credentials(env_prefix)
    # The client is cached per configuration; the access key id is part of the key (never shown)
    # so that a changed identity in the environment gets a new client.
    cache_key = (
        env_prefix,
        endpoint,
        region,
        virtual_hosted,
        max_attempts,
        connect_timeout_s,
        read_timeout_s,
        os.environ.get(env_prefix + "AWS_ACCESS_KEY_ID"),
        os.environ.get(env_prefix + "AWS_PROFILE"),
    )
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is not None:
            return client
        import boto3
        from botocore.config import Config

        config = Config(
            region_name=region,
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            s3={"addressing_style": "virtual" if virtual_hosted or not endpoint else "path"},
        )
        session = boto3.session.Session(**credentials)
        client = session.client("s3", endpoint_url=endpoint, config=config)
        _clients[cache_key] = client
        return client


def translate_error(exc: Exception, url: str, action: str = "access") -> ObjectStoreError:
    """A botocore exception as one of this module's errors, naming the s3:// URL (never credentials)."""
    if isinstance(exc, ObjectStoreError):
        return exc
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        detail = error.get("Message") or code or f"HTTP {status}"
        if code == "NoSuchBucket":
            return BucketNotFound(f"{url}: bucket {_bucket(url)!r} does not exist (NoSuchBucket)", url)
        if code in ("NoSuchKey", "NotFound") or (status == 404 and action in ("read", "head")):
            return ObjectNotFound(f"{url}: no such object (NoSuchKey)", url)
        if code in ("PreconditionFailed",) or status == 412:
            return ObjectChanged(f"{url}: the object was replaced since it was listed (ETag changed)", url)
        if status == 403 or code in (
            "AccessDenied",
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "AllAccessDisabled",
            "ExpiredToken",
            "InvalidToken",
        ):
            return AccessDenied(f"{url}: access denied ({code or 403}: {detail}) while trying to {action}", url)
        if status == 404:
            return BucketNotFound(f"{url}: not found ({code or 404}: {detail})", url)
        return ObjectStoreError(f"{url}: {action} failed ({code or status}: {detail})", url)
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return AccessDenied(
            f"{url}: no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)", url
        )
    if isinstance(
        exc,
        bx.EndpointConnectionError
        | bx.ConnectTimeoutError
        | bx.ReadTimeoutError
        | bx.ConnectionClosedError
        | bx.ProxyConnectionError,
    ):
        endpoint = endpoint_from_env() or "the AWS S3 endpoint"
        return EndpointUnreachable(f"{url}: {endpoint} is unreachable ({type(exc).__name__})", url)
    if isinstance(exc, bx.NoRegionError):
        return ObjectStoreConfigError(f"{url}: no region; set AWS_REGION", url)
    if isinstance(exc, bx.BotoCoreError):
        return ObjectStoreError(f"{url}: {action} failed: {exc}", url)
    return ObjectStoreError(f"{url}: {action} failed: {type(exc).__name__}: {exc}", url)


def _bucket(url: str) -> str:
    try:
        return parse_s3_url(url).bucket
    except UnsupportedURL:
        return url
