"""LanceDB on an S3-compatible server (moto_server over HTTP on 127.0.0.1), configured only by the
AWS_* environment: no storage_options, the same variables the document source reads.

What makes concurrent writers safe there, without the local file lock:

- Commits: lance writes each manifest with a conditional PUT (`If-None-Match: *`), so two writers
  can never both create version N; moto, like S3 since 2024-08, MinIO and R2, answers 412 to the
  second one, which lance retries on top of the new version. No DynamoDB (`s3+ddb://`) is needed.
- Same new keys: concurrent `merge_insert`s that both insert the same not-yet-present key both
  succeed and duplicate it (lancedb#3377, lance#4585) unless the key column is declared the
  table's unenforced primary key (`lance-schema:unenforced-primary-key` field metadata, on a
  non-nullable column); then lance records the inserted keys and the later commit conflicts and
  is re-planned.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import warnings
from collections import Counter
from datetime import timedelta

import pyarrow as pa
import pytest

pytest_plugins = ["tests.s3_server"]

PK = {b"lance-schema:unenforced-primary-key": b"true"}

CHUNKS_SCHEMA = pa.schema(
    [
        pa.field("chunk_id", pa.string(), nullable=False, metadata=PK),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("seq", pa.int32()),
        pa.field("text", pa.string()),
        pa.field("writer", pa.string()),
    ]
)


def chunk_rows(doc_id: str, count: int, writer: str = "main", words: str = "") -> pa.Table:
    return pa.table(
        {
            "chunk_id": [f"{doc_id}#{i}" for i in range(count)],
            "doc_id": [doc_id] * count,
            "seq": pa.array(range(count), pa.int32()),
            "text": [f"{doc_id} chunk {i} {words}".strip() for i in range(count)],
            "writer": [writer] * count,
        },
        schema=CHUNKS_SCHEMA,
    )


def replace_docs(table, rows: pa.Table, doc_ids: list[str]) -> None:
    """What LanceDBStore does per batch: `rows` become the complete content of `doc_ids`, in one commit."""
    from lancedb.expr import col

    (
        table.merge_insert("chunk_id")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .when_not_matched_by_source_delete(col("doc_id").isin(sorted(doc_ids)))
        .execute(rows)
    )


def ids(table) -> list[str]:
    return table.search().select(["chunk_id"]).limit(None).to_arrow()["chunk_id"].to_pylist()


def object_keys(s3, bucket: str) -> list[str]:
    keys = []
    for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", ())]
    return keys


def test_lancedb_is_configured_by_the_aws_environment(s3):
    """AWS_ENDPOINT_URL, credentials, region and AWS_ALLOW_HTTP are read from the environment."""
    import lancedb

    bucket = s3.bucket()
    db = lancedb.connect(f"s3://{bucket}/lancedb")
    table = db.create_table("chunks", schema=CHUNKS_SCHEMA)
    replace_docs(table, chunk_rows("a.pdf", 2), ["a.pdf"])

    assert lancedb.connect(f"s3://{bucket}/lancedb").open_table("chunks").count_rows() == 2
    keys = object_keys(s3, bucket)
    assert any(k.startswith("lancedb/chunks.lance/_versions/") for k in keys), keys
    assert any(k.startswith("lancedb/chunks.lance/data/") for k in keys), keys


def test_plain_http_endpoint_needs_aws_allow_http(s3, monkeypatch):
    import lancedb

    bucket = s3.bucket()
    monkeypatch.delenv("AWS_ALLOW_HTTP")
    with pytest.raises(ValueError, match="BadScheme"):  # reqwest refuses http:// unless allowed
        lancedb.connect(f"s3://{bucket}/lancedb").create_table("t", schema=CHUNKS_SCHEMA)


def test_table_lifecycle_on_s3(s3):
    """Create, replace per document (merge_insert + when_not_matched_by_source_delete), delete,
    scalar and full-text indexes, optimize with version cleanup: all against the server."""
    import lancedb
    from lancedb.expr import col
    from lancedb.index import FTS, BTree

    bucket = s3.bucket()
    db = lancedb.connect(f"s3://{bucket}/lancedb")
    table = db.create_table("chunks", schema=CHUNKS_SCHEMA)
    assert table.schema.field("chunk_id").metadata == PK

    replace_docs(table, pa.concat_tables([chunk_rows("a.pdf", 3), chunk_rows("b.md", 2)]), ["a.pdf", "b.md"])
    assert sorted(ids(table)) == ["a.pdf#0", "a.pdf#1", "a.pdf#2", "b.md#0", "b.md#1"]

    # a.pdf shrinks to 2 chunks: the stale third one goes in the same commit, b.md is untouched.
    replace_docs(table, chunk_rows("a.pdf", 2, words="zebra crossing"), ["a.pdf"])
    assert sorted(ids(table)) == ["a.pdf#0", "a.pdf#1", "b.md#0", "b.md#1"]

    table.delete(col("doc_id").isin(["b.md"]))
    assert sorted(ids(table)) == ["a.pdf#0", "a.pdf#1"]

    table.create_index("doc_id", config=BTree(), replace=True)
    table.create_index("chunk_id", config=BTree(), replace=True)
    table.create_index("text", config=FTS(), replace=True)
    assert {tuple(ix.columns) for ix in table.list_indices()} == {("doc_id",), ("chunk_id",), ("text",)}
    hits = table.search("zebra", query_type="fts").select(["chunk_id"]).limit(10).to_arrow()
    assert sorted(hits["chunk_id"].to_pylist()) == ["a.pdf#0", "a.pdf#1"]

    # New rows after the indexes, then compaction + index folding + pruning of old versions.
    replace_docs(table, chunk_rows("c.txt", 2, words="zebra"), ["c.txt"])
    versions_before = len(table.list_versions())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "removes every version except the latest": intended
        table.optimize(cleanup_older_than=timedelta(seconds=0))
    assert len(table.list_versions()) < versions_before
    reopened = lancedb.connect(f"s3://{bucket}/lancedb").open_table("chunks")
    assert sorted(ids(reopened)) == ["a.pdf#0", "a.pdf#1", "c.txt#0", "c.txt#1"]
    hits = reopened.search("zebra", query_type="fts").select(["chunk_id"]).limit(10).to_arrow()
    assert sorted(hits["chunk_id"].to_pylist()) == ["a.pdf#0", "a.pdf#1", "c.txt#0", "c.txt#1"]
    assert reopened.count_rows() == 4


WRITER = textwrap.dedent(
    """
    import json, random, sys, time
    import lancedb
    import pyarrow as pa
    sys.path.insert(0, sys.argv[5])
    from tests.test_lancedb_s3 import CHUNKS_SCHEMA, chunk_rows, replace_docs

    uri, writer, rounds, start_at, slot = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), 1.5
    db = lancedb.connect(uri)
    stats = {"writer": writer, "commits": 0, "conflict_retries": 0}

    def with_retries(action):
        delay = 0.1
        for attempt in range(1, 11):
            try:
                return action()
            except Exception as exc:
                text = str(exc).lower()
                if attempt == 10 or not any(w in text for w in ("conflict", "retry", "concurrent")):
                    raise
                stats["conflict_retries"] += 1
                time.sleep(delay + random.uniform(0, delay))
                delay = min(delay * 2, 2.0)

    while time.time() < start_at:
        time.sleep(0.005)
    # Every writer creates the table if it is missing, as LanceDBStore does on its first write.
    with_retries(lambda: db.create_table("chunks", schema=CHUNKS_SCHEMA, exist_ok=True))
    for r in range(rounds):
        # Rounds start on a common clock so that the four writers hit the shared document together.
        while time.time() < start_at + 1.0 + r * slot:
            time.sleep(0.005)
        for doc in (f"shared-{r}.pdf", f"{writer}-{r}.pdf"):  # the same document, then one of its own
            rows = chunk_rows(doc, 3, writer=writer)
            with_retries(lambda: replace_docs(db.open_table("chunks"), rows, [doc]))
            stats["commits"] += 1
    print(json.dumps(stats))
    """
)


@pytest.mark.slow
def test_four_writer_processes_neither_lose_nor_duplicate_rows(s3):
    """Four processes race to create the table, then each merge_inserts the SAME document and a
    document of its own every round; every chunk must exist exactly once afterwards, and each
    document's chunks must all come from one writer (one commit per document, never a mix)."""
    import lancedb

    from tests.conftest import REPO

    writers, rounds = 4, 5
    uri = f"s3://{s3.bucket()}/lancedb"
    start_at = time.time() + 4.0  # all four are importing lancedb by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, f"w{w}", str(rounds), str(start_at), str(REPO)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for w in range(writers)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"writer failed:\n{err[-3000:]}"
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["commits"] == 2 * rounds for r in reports), reports

    table = lancedb.connect(uri).open_table("chunks")
    rows = table.search().select(["chunk_id", "doc_id", "writer"]).limit(None).to_arrow().to_pylist()
    counts = Counter(r["chunk_id"] for r in rows)
    expected = {f"shared-{r}.pdf#{i}" for r in range(rounds) for i in range(3)}
    expected |= {f"w{w}-{r}.pdf#{i}" for w in range(writers) for r in range(rounds) for i in range(3)}
    duplicated = {k: n for k, n in counts.items() if n > 1}
    assert not duplicated, f"duplicated rows: {duplicated} (writers: {reports})"
    assert set(counts) == expected, (
        f"missing: {sorted(expected - set(counts))}, extra: {sorted(set(counts) - expected)}"
    )
    for r in range(rounds):
        authors = {row["writer"] for row in rows if row["doc_id"] == f"shared-{r}.pdf"}
        assert len(authors) == 1, f"shared-{r}.pdf mixes chunks of {authors}"


def test_lancedb_store_write_paths_on_s3(s3):
    """Every write path of the product's LanceDBStore against the bucket: create with the primary
    key declared, per-document replace (merge_insert), delete_documents, ensure_indexes, optimize."""
    from resources.lancedb_store import CHUNKS, DOCUMENTS, EMBEDDINGS, LanceDBStore, has_primary_key
    from resources.tables import ChunkRow, EmbeddingRow

    uri = f"s3://{s3.bucket()}/lancedb"
    store = LanceDBStore(uri=uri, vector_index_min_rows=10**9)
    assert store.is_object_store

    def chunks(doc: str, n: int, word: str = "") -> pa.Table:
        rows = [{"chunk_id": f"{doc}#{i}", "doc_id": doc, "seq": i, "text": f"{doc} {i} {word}"} for i in range(n)]
        return pa.Table.from_pylist(rows, schema=ChunkRow.schema())

    def vectors(table: pa.Table) -> pa.Table:
        rows = [
            {"chunk_id": c, "doc_id": d, "vector": [1.0, 0.0, 0.0], "text": t, "model": "m"}
            for c, d, t in zip(*(table[k].to_pylist() for k in ("chunk_id", "doc_id", "text")), strict=True)
        ]
        return pa.Table.from_pylist(rows, schema=EmbeddingRow.schema(3))

    both = pa.concat_tables([chunks("a.pdf", 3), chunks("b.md", 2)])
    assert store.replace_documents_rows(CHUNKS, both, ["a.pdf", "b.md"]).inserted == 5
    store.replace_documents_rows(EMBEDDINGS, vectors(both), ["a.pdf", "b.md"])
    outcome = store.replace_documents_rows(CHUNKS, chunks("a.pdf", 2, "zebra"), ["a.pdf"])
    assert (outcome.updated, outcome.deleted) == (2, 1)
    assert sorted(store.read(CHUNKS, ["chunk_id"])["chunk_id"].to_pylist()) == [
        "a.pdf#0",
        "a.pdf#1",
        "b.md#0",
        "b.md#1",
    ]
    for name in (CHUNKS, EMBEDDINGS):
        assert has_primary_key(store.open_table(name).schema, name), name

    assert store.delete_documents(["b.md"]) == {CHUNKS: 2, EMBEDDINGS: 2}
    assert sorted(store.ensure_indexes()) == ["chunks.chunk_id", "chunks.doc_id", "embeddings.chunk_id", "embeddings.doc_id", "embeddings.text"]  # fmt: skip
    store.replace_documents_rows(CHUNKS, chunks("c.txt", 2, "zebra"), ["c.txt"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        stats = store.optimize(keep_versions_hours=0)
    assert stats[CHUNKS]["rows"] == 4 and stats[EMBEDDINGS]["rows"] == 3
    assert DOCUMENTS not in stats
    reopened = LanceDBStore(uri=uri)
    assert sorted(reopened.read(CHUNKS, ["chunk_id"])["chunk_id"].to_pylist()) == [
        "a.pdf#0",
        "a.pdf#1",
        "c.txt#0",
        "c.txt#1",
    ]
    keys = object_keys(s3, uri.split("/")[2])
    assert not any(k.endswith(".ingest-write.lock") for k in keys), "no local lock file on object storage"
