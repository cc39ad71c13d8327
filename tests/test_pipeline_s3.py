"""The pipeline, the inbox sensor and `ingestctl ingest` with documents AND LanceDB on an S3 bucket:
a real `moto_server` over HTTP (tests/s3_server.py), configured only by the AWS_* environment.

Also: a source that does not exist, cannot be listed or has an unsupported scheme is an error that
names it (the sensor tick fails, `ingestctl ingest` exits 2), never "0 documents".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pytest

from ingestion_assets.keys import DOCUMENTS_KEY, EMBEDDINGS_KEY, PHASE_KEYS
from ingestion_assets.parsing import supported_suffixes
from ingestion_assets.status import document_statuses
from resources.document_source import DocumentSource
from resources.lancedb_store import CHUNKS, DOCUMENTS, EMBEDDINGS, LanceDBStore, has_primary_key
from resources.sources.base import SourceUnavailable
from tests.conftest import (
    REPO,
    SAMPLES,
    apply_partition_requests,
    current_definitions,
    current_versions,
    execute_request,
    statuses,
)
from tests.test_postgres import assert_rows_exactly_once

if TYPE_CHECKING:
    from tests.s3_server import S3Test

pytest_plugins = ["tests.s3_server"]
pytestmark = pytest.mark.slow

PREFIX = "inbox/"


@dataclass
class Bucket:
    """One test's bucket: documents under `inbox/`, LanceDB under `lancedb/`."""

    s3: S3Test
    name: str

    @property
    def source_url(self) -> str:
        return f"s3://{self.name}/{PREFIX}"

    @property
    def lancedb_uri(self) -> str:
        return f"s3://{self.name}/lancedb"

    def source(self) -> DocumentSource:
        return DocumentSource(suffixes=supported_suffixes(), root_dir=self.source_url)

    def store(self) -> LanceDBStore:
        return LanceDBStore(uri=self.lancedb_uri)

    def put(self, key: str, data: bytes) -> None:
        self.s3.put(self.name, PREFIX + key, data)

    def put_sample(self, name: str, key: str | None = None) -> None:
        self.put(key or name, (SAMPLES / name).read_bytes())

    def delete(self, key: str) -> None:
        self.s3.client().delete_object(Bucket=self.name, Key=PREFIX + key)


@pytest.fixture
def bucket(s3, monkeypatch) -> Bucket:
    """A fresh bucket; INGEST_SOURCE_DIR and LANCEDB_URI point into it (runs resolve them at start)."""
    b = Bucket(s3, s3.bucket())
    monkeypatch.setenv("INGEST_SOURCE_DIR", b.source_url)
    monkeypatch.setenv("LANCEDB_URI", b.lancedb_uri)
    monkeypatch.setenv("INGEST_DEBOUNCE_S", "0")
    return b


def tick(instance, source: DocumentSource, store: LanceDBStore, cursor: str | None = None) -> dg.SensorResult:
    """One evaluation of `inbox_sensor`, its partition requests applied as the daemon would."""
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"source": source, "lancedb": store})
    result = current_definitions().resolve_sensor_def("inbox_sensor")(context)
    apply_partition_requests(instance, result)
    return result


def run_all(instance, result: dg.SensorResult):
    return [execute_request(instance, r) for r in result.run_requests or []]


def doc_ids(store: LanceDBStore, table: str) -> list[str]:
    return sorted({r["doc_id"] for r in store.read(table, ["doc_id"]).to_pylist()})


def latest_metadata(instance, key: dg.AssetKey, partition: str) -> dict:
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records[0]
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def test_sensor_on_a_bucket_new_changed_touched_deleted(instance, bucket):
    source, store = bucket.source(), bucket.store()
    for name in ["tidal-energy.txt", "beekeeping.md", "lighthouse-keeping.pdf"]:
        bucket.put_sample(name)
    bucket.put("report.pdf.part", b"%PDF-1.7 half an upload")  # partial upload: waits for its rename
    bucket.put(".hidden.txt", b"hidden")
    bucket.put("drafts/", b"")  # a "folder" marker object
    bucket.put("odd//name.txt", b"not one clean path")  # legal in S3, never a document

    first = tick(instance, source, store)

    assert sorted(instance.get_dynamic_partitions("documents")) == [
        "beekeeping.md",
        "lighthouse-keeping.pdf",
        "tidal-energy.txt",
    ]
    assert [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) for r in first.run_requests] == [("beekeeping.md", "tidal-energy.txt")]  # fmt: skip
    assert set(first.run_requests[0].asset_selection) == set(PHASE_KEYS)
    assert all(o.success for o in run_all(instance, first))
    assert_rows_exactly_once(store, {"beekeeping.md", "lighthouse-keeping.pdf", "tidal-energy.txt"})
    uris = {r["doc_id"]: r["source_uri"] for r in store.read(DOCUMENTS, ["doc_id", "source_uri"]).to_pylist()}
    assert uris["beekeeping.md"] == f"{bucket.source_url}beekeeping.md"
    assert latest_metadata(instance, DOCUMENTS_KEY, "beekeeping.md")["source"] == f"{bucket.source_url}beekeeping.md"
    keys = [o["Key"] for o in bucket.s3.client().list_objects_v2(Bucket=bucket.name, Prefix="lancedb/")["Contents"]]
    assert any(k.startswith("lancedb/embeddings.lance/") for k in keys)
    for table in (DOCUMENTS, CHUNKS, EMBEDDINGS):
        assert has_primary_key(store.open_table(table).schema, table), table

    again = tick(instance, source, store, first.cursor)
    assert not again.run_requests and not again.dynamic_partitions_requests

    time.sleep(1.1)  # S3 keeps LastModified to the second
    bucket.put_sample("beekeeping.md")  # the same bytes again: a new LastModified, the same content
    touched = tick(instance, source, store, again.cursor)
    assert not touched.run_requests

    bucket.put("beekeeping.md", b"# Bees\n\nA much shorter note about varroa mites.\n")
    changed = tick(instance, source, store, touched.cursor)
    assert [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) for r in changed.run_requests] == [("beekeeping.md", "beekeeping.md")]  # fmt: skip
    assert all(o.success for o in run_all(instance, changed))
    assert [
        r["text"] for r in store.read(CHUNKS, ["doc_id", "text"]).to_pylist() if r["doc_id"] == "beekeeping.md"
    ] == ["# Bees\n\nA much shorter note about varroa mites."]

    bucket.delete("tidal-energy.txt")
    deleted = tick(instance, source, store)
    assert [r.job_name for r in deleted.run_requests] == ["purge_job"]
    run_all(instance, deleted)
    assert "tidal-energy.txt" not in instance.get_dynamic_partitions("documents")
    for table in (DOCUMENTS, CHUNKS, EMBEDDINGS):
        assert doc_ids(store, table) == ["beekeeping.md", "lighthouse-keeping.pdf"]

    # The partial upload is "renamed" (copied, then deleted) once complete: now it is a document.
    bucket.put("report.txt", b"The report on tidal barrages, complete at last.")
    bucket.delete("report.pdf.part")
    completed = tick(instance, source, store)
    assert "report.txt" in instance.get_dynamic_partitions("documents")
    assert all(o.success for o in run_all(instance, completed))
    assert not tick(instance, source, store).run_requests
    assert ".hidden.txt" not in instance.get_dynamic_partitions("documents")


def test_rename_on_a_bucket_reuses_parse_and_vectors(instance, bucket):
    source, store = bucket.source(), bucket.store()
    bucket.put_sample("lighthouse-keeping.pdf", "old-name.pdf")
    assert all(o.success for o in run_all(instance, tick(instance, source, store)))
    vectors_before = {r["text_hash"]: r["vector"] for r in store.read(EMBEDDINGS).to_pylist()}

    # S3 has no rename: copy, then delete.
    client = bucket.s3.client()
    client.copy_object(
        Bucket=bucket.name, Key=PREFIX + "archive/new-name.pdf", CopySource={"Bucket": bucket.name, "Key": PREFIX + "old-name.pdf"}
    )  # fmt: skip
    bucket.delete("old-name.pdf")
    moved = tick(instance, source, store)

    assert instance.get_dynamic_partitions("documents") == ["old-name.pdf", "archive/new-name.pdf"]
    assert [r.job_name for r in moved.run_requests] == ["ingest_job"]
    assert doc_ids(store, DOCUMENTS) == ["old-name.pdf"], "old rows are kept until the new document reuses them"
    assert all(o.success for o in run_all(instance, moved))
    assert latest_metadata(instance, DOCUMENTS_KEY, "archive/new-name.pdf")["reused_parse_of"] == "old-name.pdf"
    assert latest_metadata(instance, EMBEDDINGS_KEY, "archive/new-name.pdf")["embedded"] == 0

    cleanup = tick(instance, source, store)
    assert [r.job_name for r in cleanup.run_requests] == ["purge_job"]
    run_all(instance, cleanup)
    assert instance.get_dynamic_partitions("documents") == ["archive/new-name.pdf"]
    for table in (DOCUMENTS, CHUNKS, EMBEDDINGS):
        assert doc_ids(store, table) == ["archive/new-name.pdf"]
    assert {r["text_hash"]: r["vector"] for r in store.read(EMBEDDINGS).to_pylist()} == vectors_before


def test_an_object_that_cannot_be_read_fails_alone(instance, store, monkeypatch):
    """A real 403 from the server's IAM policy (one object denied), and an object deleted between
    the listing and the run: each fails its own document with a reason naming its s3:// URL."""
    from tests.s3_server import running_s3_server

    with running_s3_server() as server:
        name = server.create_bucket("locked-docs")
        for sample in ("tidal-energy.txt", "beekeeping.md"):
            server.put(name, sample, (SAMPLES / sample).read_bytes())
        server.put(name, "secret.txt", b"Nobody may read this.")
        access_key = _iam_user_denied(server, f"arn:aws:s3:::{name}/secret.txt")
        for var, value in server.env().items():
            monkeypatch.setenv(var, value)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", access_key["SecretAccessKey"])
        # moto 5.2.5 miscomputes the signature of a ListObjectsV2 whose Prefix contains '/' once it
        # checks signatures, so this source is the whole bucket.
        url = f"s3://{name}/"
        monkeypatch.setenv("INGEST_SOURCE_DIR", url)
        monkeypatch.setenv("INGEST_DEBOUNCE_S", "0")
        source = DocumentSource(suffixes=supported_suffixes(), root_dir=url)

        result = tick(instance, source, store)
        assert len(result.run_requests) == 1, "the unreadable object is ingested too, so that it fails visibly"

        # Delete one object between the tick and the run, with the user's own rights.
        from resources.object_store import ObjectStore

        ObjectStore(url)._client().delete_object(Bucket=name, Key="beekeeping.md")
        outcomes = run_all(instance, result)

    assert [o.success for o in outcomes] == [False]
    keys = ["beekeeping.md", "secret.txt", "tidal-energy.txt"]
    by_doc = {s.doc_id: s for s in document_statuses(instance, keys, store, current_versions())}
    assert by_doc["tidal-energy.txt"].ok
    assert f"{url}secret.txt" in by_doc["secret.txt"].error and "access denied" in by_doc["secret.txt"].error
    assert f"{url}beekeeping.md" in by_doc["beekeeping.md"].error and "NoSuchKey" in by_doc["beekeeping.md"].error
    assert statuses(instance, keys)["documents"] == {
        "beekeeping.md": "FAILED",
        "secret.txt": "FAILED",
        "tidal-energy.txt": "MATERIALIZED",
    }
    assert doc_ids(store, EMBEDDINGS) == ["tidal-energy.txt"]


def _iam_user_denied(server, denied_arn: str) -> dict:
    """An IAM user allowed everything on S3 except reading `denied_arn`; then the server enforces
    signatures and policies for every later request (moto's /moto-api/reset-auth)."""
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=server.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    iam.create_user(UserName="ingest")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:GetObject", "Resource": denied_arn},
        ],
    }
    iam.put_user_policy(UserName="ingest", PolicyName="ingest", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="ingest")["AccessKey"]
    request = urllib.request.Request(
        f"{server.endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return key


# ---- sources that cannot be used: an error naming them, never "0 documents" ---------------------


def test_sensor_tick_fails_naming_a_missing_bucket_or_folder(instance, store, s3, tmp_path):
    for root, named in [
        ("s3://missing-bucket-x/inbox/", r"s3://missing-bucket-x/inbox/.*NoSuchBucket"),
        ("gs://docs/inbox/", r"gs://docs/inbox/.*unsupported URL scheme"),
        (str(tmp_path / "inbx"), r"'.*/inbx' does not exist"),
    ]:
        with pytest.raises(SourceUnavailable, match=named):
            tick(instance, DocumentSource(suffixes=supported_suffixes(), root_dir=root), store)
    assert instance.get_dynamic_partitions("documents") == []


def _ingestctl(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingestctl", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def _cli_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "LANCEDB_URI", "INGEST_SOURCE_DIR")}
    env.update(PYTHONPATH=str(REPO), DAGSTER_HOME=str(tmp_path / "home"), LANCEDB_URI=str(tmp_path / "db"))
    (tmp_path / "home").mkdir(exist_ok=True)
    env.update(values)
    return env


def test_ingestctl_exits_2_naming_a_source_it_cannot_use(s3, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    cases = [
        # Before: read as the local folder "s3:/docs/inbox", 0 documents, exit 0.
        ({"INGEST_SOURCE_DIR": "s3://docs/inbox/"}, [], "s3://docs/inbox/: bucket 'docs' does not exist"),
        ({"INGEST_SOURCE_DIR": "gs://docs/inbox/"}, [], "unsupported URL scheme 'gs://'"),
        ({"INGEST_SOURCE_DIR": str(tmp_path / "inbx")}, [], f"'{tmp_path / 'inbx'}' does not exist"),
        ({}, ["docz"], f"'docz' does not exist ({work / 'docz'})"),
        ({}, ["s3://docs/other/"], "s3://docs/other/: bucket 'docs' does not exist"),
    ]
    for values, args, message in cases:
        result = _ingestctl("ingest", *args, env=_cli_env(tmp_path, **values), cwd=work)
        assert result.returncode == 2, (values, args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("ingestctl ingest: ") and message in lines[-1], (values, args, result.stderr)
        assert "document(s)" not in result.stdout

    # The default source, `inbox` in the working directory, in a fresh clone where it does not exist.
    env = _cli_env(tmp_path)
    env.pop("DAGSTER_HOME")
    result = _ingestctl("ingest", env=env, cwd=work)
    assert result.returncode == 2
    assert f"document source folder 'inbox' does not exist ({work / 'inbox'})" in result.stderr
    assert not (work / ".dagster_home").exists()


def test_ingestctl_ingests_a_bucket(bucket, tmp_path):
    """`ingestctl ingest s3://bucket/inbox/` (and INGEST_SOURCE_DIR=s3://...), LanceDB on the bucket."""
    for name in ("tidal-energy.txt", "beekeeping.md"):
        bucket.put_sample(name)
    bucket.put("notes/later.pdf", b"%PDF-1.4 broken")
    work = tmp_path / "work"
    work.mkdir()
    env = _cli_env(tmp_path, LANCEDB_URI=bucket.lancedb_uri, INGEST_SOURCE_DIR=str(tmp_path / "unused"))

    first = _ingestctl("ingest", bucket.source_url, env=env, cwd=work)

    assert first.returncode == 1, first.stdout + first.stderr  # later.pdf is not a PDF
    assert f"source {bucket.source_url}: 3 document(s); LanceDB {bucket.lancedb_uri}" in first.stdout
    broken = next(line for line in first.stdout.splitlines() if line.startswith("notes/later.pdf"))
    assert "[documents]" in broken and "PDF" in broken
    assert_rows_exactly_once(bucket.store(), {"beekeeping.md", "tidal-energy.txt"})

    env["INGEST_SOURCE_DIR"] = bucket.source_url
    bucket.put_sample("sourdough-bread.pdf", "notes/later.pdf")
    sub = _ingestctl("ingest", bucket.source_url + "notes/", env=env, cwd=work)  # a prefix inside the source
    assert sub.returncode == 0, sub.stdout + sub.stderr
    assert "1 document(s) to process in 1 run(s)" in sub.stdout
    versions = bucket.store().versions()
    again = _ingestctl("ingest", env=env, cwd=work)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 document(s) to process in 0 run(s)" in again.stdout
    assert bucket.store().versions() == versions
    assert_rows_exactly_once(bucket.store(), {"beekeeping.md", "tidal-energy.txt", "notes/later.pdf"})


def test_bucket_listing_names_every_object_that_is_not_a_document(bucket):
    for key in ["doc.md", "sub/note.txt", "setup.exe", "big.pdf.part", ".env", "sub/.git/a.txt", "sub/.git/b.txt"]:
        bucket.put(key, b"x")
    bucket.put("folder/", b"")

    scan = bucket.source().scan()

    assert [f.key for f in scan.files] == ["doc.md", "sub/note.txt"]
    assert scan.skipped == [
        (".env", "hidden"),
        ("big.pdf.part", "partial upload"),
        ("setup.exe", "unsupported type"),
        ("sub/.git/", "hidden"),
    ]
