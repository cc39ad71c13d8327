"""resources/object_store.py against a real S3-compatible server (moto_server over HTTP)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from resources import object_store as osx

pytest_plugins = ["tests.s3_server"]

REPO = Path(osx.__file__).resolve().parent.parent


# ---- URLs (no server) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://docs", "docs", ""),
        ("s3://docs/", "docs", ""),
        ("s3://docs/inbox", "docs", "inbox/"),
        ("s3://docs/inbox/2024/", "docs", "inbox/2024/"),
        ("  s3://my.bucket-1/a/b  ", "my.bucket-1", "a/b/"),
    ],
)
def test_parse_s3_url(url, bucket, prefix):
    loc = osx.parse_s3_url(url)
    assert (loc.bucket, loc.prefix) == (bucket, prefix)
    assert loc.url == f"s3://{bucket}/{prefix}"
    assert loc.url_for("x/y.pdf") == f"s3://{bucket}/{prefix}x/y.pdf"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("gs://docs/inbox/", "unsupported URL scheme 'gs://'"),
        ("az://docs/inbox/", "unsupported URL scheme 'az://'"),
        ("file:///srv/inbox", "unsupported URL scheme 'file://'"),
        ("https://s3.amazonaws.com/docs/", "unsupported URL scheme 'https://'"),
        ("s3://", "no bucket name"),
        ("s3:///inbox/", "no bucket name"),
        ("s3://Docs_Bucket/", "not a valid bucket name"),
        ("s3://docs/a//b/", "empty, '.' or '..' parts"),
        ("s3://docs/../b/", "empty, '.' or '..' parts"),
        ("s3://docs/inbox?versionId=1", "query strings"),
        ("s3://docs:9000/inbox", "credentials or ports"),
    ],
)
def test_unsupported_urls_are_named_in_the_error(url, reason):
    with pytest.raises(osx.UnsupportedURL) as info:
        osx.parse_s3_url(url)
    assert reason in str(info.value)
    assert url.strip() in str(info.value)


def test_credentials_in_a_url_are_refused_and_never_echoed():
    with pytest.raises(osx.UnsupportedURL) as info:
        osx.parse_s3_url("s3://AKIAEXAMPLE:topsecret@docs/inbox/")
    assert "topsecret" not in str(info.value) and "AKIAEXAMPLE" not in str(info.value)
    assert "AWS_ACCESS_KEY_ID" in str(info.value)


def test_is_object_store_url():
    assert osx.is_object_store_url("s3://docs/")
    assert osx.is_object_store_url("gs://docs/")  # shaped like a URL: parse_s3_url explains why not
    assert not osx.is_object_store_url("inbox")
    assert not osx.is_object_store_url("/srv/inbox")
    assert not osx.is_object_store_url("./s3:/x")


def test_importing_the_module_does_not_import_the_client():
    code = (
        "import sys, resources.object_store as m; "
        "assert not {'boto3', 'botocore'} & set(sys.modules), sorted(k for k in sys.modules if 'boto' in k)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# ---- listing ---------------------------------------------------------------------------------------

LAYOUT = {
    "inbox/a.txt": b"alpha",
    "inbox/sub/": b"",  # folder marker
    "inbox/sub/b.pdf": b"%PDF-1.4 tiny",
    "inbox/empty/": b"",  # folder marker without children
    "inbox/.hidden.txt": b"h",
    "inbox/.git/config.txt": b"h",
    "inbox/c.txt.part": b"p",
    "inbox/d.md.tmp": b"p",
    "inbox/e.pdf.crdownload": b"p",
    "inbox/weird name ü %41 q?#+.txt": b"w",
    "inbox/a//double.txt": b"bad",
    "inbox/./dot.txt": b"bad",
    "inbox/x/../up.txt": b"bad",
    "inbox2/not-under-the-prefix.txt": b"no",
    "other.txt": b"no",
}


def test_list_objects_keys_sizes_mtimes_etags_and_rules(s3):
    bucket = s3.bucket()
    before_ns = time.time_ns() - 5_000_000_000
    for key, data in LAYOUT.items():
        s3.put(bucket, key, data)

    listing = osx.list_objects(f"s3://{bucket}/inbox/")

    assert [e.key for e in listing.entries] == ["a.txt", "sub/b.pdf", "weird name ü %41 q?#+.txt"]
    assert sorted(k for k, _ in listing.rejected) == ["./dot.txt", "a//double.txt", "x/../up.txt"]
    assert all(reason for _, reason in listing.rejected)
    assert listing.skipped == 7  # 2 markers, 2 hidden, 3 partial
    a = listing.entries[0]
    assert a.size_bytes == 5
    assert before_ns < a.mtime_ns < time.time_ns() + 5_000_000_000
    assert a.etag.strip('"') == "2c1743a391305fbf367df8e4f069f9f9"  # md5(b"alpha")


def test_listing_paginates(s3):
    bucket = s3.bucket()
    keys = [f"many/{i // 500:02d}/doc-{i:05d}.txt" for i in range(2_500)]
    s3.server.put_many(bucket, keys)
    listing = osx.list_objects(f"s3://{bucket}/many")
    assert [e.key for e in listing.entries] == sorted(k.removeprefix("many/") for k in keys)


def test_a_bucket_url_without_prefix_lists_everything(s3):
    bucket = s3.bucket()
    s3.put(bucket, "top.txt")
    s3.put(bucket, "deep/er/doc.md")
    assert [e.key for e in osx.list_objects(f"s3://{bucket}").entries] == ["deep/er/doc.md", "top.txt"]


# ---- reading ---------------------------------------------------------------------------------------


def test_read_returns_the_bytes_and_the_version_read(s3):
    bucket = s3.bucket()
    s3.put(bucket, "inbox/a.txt", b"alpha")
    store = osx.ObjectStore(f"s3://{bucket}/inbox/")
    listed = store.list().entries[0]

    content = store.read("a.txt", max_bytes=1024, expected_etag=listed.etag)
    assert (content.data, content.size_bytes, content.etag) == (b"alpha", 5, listed.etag)
    assert content.mtime_ns == listed.mtime_ns
    assert store.stat("a.txt") == listed


def test_read_refuses_an_object_over_the_limit_without_downloading_it(s3):
    bucket = s3.bucket()
    s3.put(bucket, "inbox/big.pdf", b"x" * 3_000_000)
    with pytest.raises(osx.ObjectTooLarge) as info:
        osx.read_object(f"s3://{bucket}/inbox/", "big.pdf", max_bytes=1_000_000)
    assert info.value.size_bytes == 3_000_000
    assert f"s3://{bucket}/inbox/big.pdf" in str(info.value)
    assert "not downloaded" in str(info.value)


def test_read_of_a_replaced_object_raises_object_changed(s3):
    bucket = s3.bucket()
    s3.put(bucket, "inbox/a.txt", b"first")
    store = osx.ObjectStore(f"s3://{bucket}/inbox/")
    etag = store.list().entries[0].etag
    s3.put(bucket, "inbox/a.txt", b"second version")
    with pytest.raises(osx.ObjectChanged, match=rf"s3://{bucket}/inbox/a.txt"):
        store.read("a.txt", max_bytes=1024, expected_etag=etag)
    assert store.read("a.txt", max_bytes=1024).data == b"second version"


def test_missing_object(s3):
    bucket = s3.bucket()
    store = osx.ObjectStore(f"s3://{bucket}/inbox/")
    with pytest.raises(osx.ObjectNotFound, match=rf"s3://{bucket}/inbox/gone.pdf.*NoSuchKey"):
        store.read("gone.pdf", max_bytes=10)
    with pytest.raises(FileNotFoundError, match=rf"s3://{bucket}/inbox/gone.pdf"):
        store.stat("gone.pdf")


def test_keys_that_are_not_clean_paths_are_not_read(s3):
    store = osx.ObjectStore(f"s3://{s3.bucket()}/inbox/")
    with pytest.raises(osx.ObjectStoreError, match="empty path part"):
        store.read("a//b.txt", max_bytes=10)


# ---- the source must exist -------------------------------------------------------------------------


def test_check_source(s3):
    bucket = s3.bucket()
    osx.check_source(f"s3://{bucket}/inbox/")  # exists, empty prefix: fine (an empty inbox)
    with pytest.raises(osx.BucketNotFound, match=r"s3://missing-bucket-x/inbox/.*NoSuchBucket"):
        osx.check_source("s3://missing-bucket-x/inbox/")
    with pytest.raises(osx.BucketNotFound, match=r"s3://missing-bucket-x/"):
        osx.list_objects("s3://missing-bucket-x/")


def test_unreachable_endpoint(s3, monkeypatch):
    from tests.local_server import free_port

    port = free_port()  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(osx.EndpointUnreachable) as info:
        osx.check_source("s3://docs/inbox/", max_attempts=2)
    assert "s3://docs/inbox/" in str(info.value) and f"127.0.0.1:{port}" in str(info.value)
    assert time.monotonic() - started < 30


def test_plain_http_needs_aws_allow_http(s3, monkeypatch):
    monkeypatch.delenv("AWS_ALLOW_HTTP")
    with pytest.raises(osx.ObjectStoreConfigError, match="AWS_ALLOW_HTTP=true"):
        osx.check_source(f"s3://{s3.bucket()}/")


def test_access_denied(monkeypatch):
    from tests.s3_server import running_s3_server

    # A server of its own that enforces authentication after two requests (create bucket, put).
    with running_s3_server(no_auth_actions=2) as server:
        server.create_bucket("locked")
        server.put("locked", "inbox/a.txt", b"secret text")
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
        store = osx.ObjectStore("s3://locked/inbox/")
        with pytest.raises(osx.AccessDenied, match=r"s3://locked/inbox/.*access denied"):
            store.check()
        with pytest.raises(PermissionError, match=r"s3://locked/inbox/a.txt"):
            store.read("a.txt", max_bytes=100)
        with pytest.raises(osx.AccessDenied) as info:
            store.list()
        assert "testing" not in str(info.value)  # the secret key is never shown


def test_the_server_honours_conditional_put(s3):
    """What LanceDB's commits rely on; moto answers the second If-None-Match PUT with 412."""
    bucket = s3.bucket()
    osx.check_conditional_put(f"s3://{bucket}/lancedb/")
    assert osx.list_objects(f"s3://{bucket}/").entries == []  # the probe is gone
