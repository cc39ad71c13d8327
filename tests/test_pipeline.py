"""The three assets over real files, a real Dagster instance, real LanceDB and the real model."""

from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import pymupdf
import pytest

from ingestion_assets.status import document_statuses
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import CHUNKS, DOCUMENTS, EMBEDDINGS
from tests.conftest import current_definitions, current_versions, materialize, sample_keys, statuses

MATERIALIZED = "MATERIALIZED"


def _rows(store, table, columns=None):
    return store.read(table, columns).to_pylist()


def test_ranged_run_over_every_format(instance, store, samples_inbox):
    keys = sample_keys(samples_inbox)
    formats = {k.rsplit(".", 1)[-1] for k in keys}
    assert {"pdf", "md", "txt", "html", "htm"} <= formats and len(keys) >= 5

    result = materialize(instance, keys)

    assert result.success
    for asset, by_doc in statuses(instance, keys).items():
        assert by_doc == {k: MATERIALIZED for k in keys}, asset
    docs = {r["doc_id"]: r for r in _rows(store, DOCUMENTS)}
    assert set(docs) == set(keys)
    assert docs["lighthouse-keeping.pdf"]["page_count"] == 4
    assert "Fresnel lens" in docs["lighthouse-keeping.pdf"]["text"]
    html = docs["guides/orbital-mechanics.html"]["text"]
    assert "Hohmann transfer" in html and "<p>" not in html and "should never be indexed" not in html

    chunks = _rows(store, CHUNKS)
    embeddings = _rows(store, EMBEDDINGS)
    per_chunk = Counter(e["chunk_id"] for e in embeddings)
    assert set(per_chunk) == {c["chunk_id"] for c in chunks}
    assert set(per_chunk.values()) == {1}
    vectors = np.array([e["vector"] for e in embeddings], dtype=np.float32)
    assert vectors.shape == (len(chunks), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert {e["model"] for e in embeddings} == {"sentence-transformers/all-MiniLM-L6-v2"}

    pdf_pages = {c["page_start"] for c in chunks if c["doc_id"] == "lighthouse-keeping.pdf"}
    assert pdf_pages == {1, 2, 3, 4}
    for c in chunks:
        text = docs[c["doc_id"]]["text"]
        assert text[c["char_start"] : c["char_end"]] == c["text"]


def test_bad_documents_fail_alone(instance, store, samples_inbox):
    good = sample_keys(samples_inbox)
    data = (samples_inbox / "lighthouse-keeping.pdf").read_bytes()
    (samples_inbox / "corrupt.pdf").write_bytes(data[: len(data) // 3])
    (samples_inbox / "binary.txt").write_bytes(b"\x00\x01\x02 not text \x00" * 50)
    keys = sample_keys(samples_inbox)
    assert keys.index("binary.txt") < keys.index("corrupt.pdf") < keys.index("tidal-energy.txt")

    result = materialize(instance, keys)

    assert not result.success
    by_asset = statuses(instance, keys)
    for asset in ("documents", "chunks", "embeddings"):
        assert by_asset[asset]["corrupt.pdf"] == "FAILED"
        assert by_asset[asset]["binary.txt"] == "FAILED"
        assert all(by_asset[asset][k] == MATERIALIZED for k in good), asset
    report = {s.doc_id: s for s in document_statuses(instance, keys, store, current_versions())}
    assert "NUL bytes" in report["binary.txt"].error
    assert "corrupt.pdf" not in report["binary.txt"].error
    assert "PDF" in report["corrupt.pdf"].error
    assert report["corrupt.pdf"].error.startswith("[documents]")
    assert {r["doc_id"] for r in _rows(store, EMBEDDINGS, ["doc_id"])} == set(good)


def test_rerun_is_idempotent(instance, store, samples_inbox):
    keys = sample_keys(samples_inbox)
    materialize(instance, keys)
    before = {
        t: sorted(r[k] for r in _rows(store, t))
        for t, k in [(DOCUMENTS, "doc_id"), (CHUNKS, "chunk_id"), (EMBEDDINGS, "chunk_id")]
    }

    assert materialize(instance, keys).success

    after = {
        t: sorted(r[k] for r in _rows(store, t))
        for t, k in [(DOCUMENTS, "doc_id"), (CHUNKS, "chunk_id"), (EMBEDDINGS, "chunk_id")]
    }
    assert after == before


def test_shrunk_document_leaves_no_stale_rows(instance, store, samples_inbox):
    keys = sample_keys(samples_inbox)
    materialize(instance, keys)
    others_before = [r for r in _rows(store, EMBEDDINGS, ["chunk_id", "doc_id"]) if r["doc_id"] != "tidal-energy.txt"]
    old_ids = {r["chunk_id"] for r in _rows(store, CHUNKS) if r["doc_id"] == "tidal-energy.txt"}
    assert len(old_ids) > 2

    (samples_inbox / "tidal-energy.txt").write_text("Tidal energy, in one short sentence about a tidal barrage.\n")
    assert materialize(instance, ["tidal-energy.txt"]).success

    new_chunks = [r for r in _rows(store, CHUNKS) if r["doc_id"] == "tidal-energy.txt"]
    new_vectors = [r for r in _rows(store, EMBEDDINGS) if r["doc_id"] == "tidal-energy.txt"]
    assert len(new_chunks) == 1 and len(new_vectors) == 1
    assert new_chunks[0]["chunk_id"] not in old_ids
    assert new_vectors[0]["chunk_id"] == new_chunks[0]["chunk_id"]
    others_after = [r for r in _rows(store, EMBEDDINGS, ["chunk_id", "doc_id"]) if r["doc_id"] != "tidal-energy.txt"]
    assert sorted(others_after, key=str) == sorted(others_before, key=str)


def test_hostile_name_touches_only_its_own_rows(instance, store, inbox):
    shutil.copy(_sample("beekeeping.md"), inbox / "beekeeping.md")
    hostile = "a' OR '1'='1, dîner à \"Zürich\".txt"
    (inbox / hostile).write_text("Une note sur les abeilles et le miel. " * 20, encoding="utf-8")
    keys = sample_keys(inbox)
    assert hostile in keys
    materialize(instance, keys)
    bee_rows = [r for r in _rows(store, CHUNKS, ["chunk_id", "doc_id"]) if r["doc_id"] == "beekeeping.md"]
    assert bee_rows

    (inbox / hostile).write_text("Plus court.", encoding="utf-8")
    assert materialize(instance, [hostile]).success

    assert [r for r in _rows(store, CHUNKS, ["chunk_id", "doc_id"]) if r["doc_id"] == "beekeeping.md"] == bee_rows
    assert [r["text"] for r in _rows(store, CHUNKS) if r["doc_id"] == hostile] == ["Plus court."]
    assert {r["doc_id"] for r in _rows(store, DOCUMENTS)} == {"beekeeping.md", hostile}


def test_no_chunk_exceeds_model_max_seq_length(instance, store, inbox):
    doc = pymupdf.open()
    for _page_no in range(3):
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(36, 36, 560, 800), ("Unbroken" * 40 + " ") * 6, fontsize=7)
    doc.save(inbox / "long-words.pdf")
    (inbox / "one-line.txt").write_text(" ".join(f"word{i}" for i in range(3000)))
    (inbox / "no-spaces.md").write_text("x" * 20000)
    keys = sample_keys(inbox)
    assert materialize(instance, keys).success

    model = EmbeddingModel()
    tokenizer = model.tokenizer()
    chunks = _rows(store, CHUNKS)
    assert len(chunks) > 20
    lengths = [len(tokenizer.encode(c["text"]).ids) for c in chunks]
    assert max(lengths) <= model.max_seq_length
    assert max(lengths) <= 200
    assert all(c["token_count"] == n for c, n in zip(chunks, lengths, strict=True))


def _sample(name: str):
    from tests.conftest import SAMPLES

    return SAMPLES / name


@pytest.mark.parametrize("phase_subset", [("embeddings",), ("chunks", "embeddings")])
def test_later_phases_reuse_stored_results(instance, store, samples_inbox, phase_subset):
    import dagster as dg

    keys = sample_keys(samples_inbox)
    materialize(instance, keys)
    before = _rows(store, DOCUMENTS, ["doc_id", "ingested_at"])

    assert materialize(instance, keys, [dg.AssetKey(p) for p in phase_subset]).success

    assert _rows(store, DOCUMENTS, ["doc_id", "ingested_at"]) == before
    assert len(_rows(store, EMBEDDINGS, ["chunk_id"])) == len(_rows(store, CHUNKS, ["chunk_id"]))


def test_lineage_tags_keep_the_ui_in_sync(instance, store, samples_inbox):
    """Each materialisation records the upstream data version it was computed from, so the UI
    shows phases as fresh, and `chunks` as stale once `documents` changed underneath it."""
    import dagster as dg
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._core.loader import LoadingContextForTest

    keys = sample_keys(samples_inbox)
    materialize(instance, keys)

    def stale_status(asset: str, key: str) -> StaleStatus:
        resolver = CachingStaleStatusResolver(
            instance, current_definitions().resolve_asset_graph(), LoadingContextForTest(instance)
        )
        return resolver.get_status(dg.AssetKey(asset), key)

    assert {stale_status(a, k) for a in ("documents", "chunks", "embeddings") for k in keys} == {StaleStatus.FRESH}

    (samples_inbox / "tidal-energy.txt").write_text("A much shorter text about a tidal barrage.")
    assert materialize(instance, ["tidal-energy.txt"], [dg.AssetKey("documents")]).success
    assert stale_status("chunks", "tidal-energy.txt") == StaleStatus.STALE
    assert stale_status("chunks", "beekeeping.md") == StaleStatus.FRESH


def test_sqlite_event_log_reuses_engines(instance, store, samples_inbox, monkeypatch, tmp_path):
    """The project's dagster.yaml puts the event log where Dagster keeps it, in a storage that
    keeps each shard's engine and connection; a real run's events land there and read back."""
    import os

    import dagster as dg

    from ingestion_assets.sqlite_event_log import SqliteEventLogStorageReusingEngines

    storage = instance.event_log_storage
    assert isinstance(storage, SqliteEventLogStorageReusingEngines)
    assert storage._base_dir == os.path.join(os.environ["DAGSTER_HOME"], "history", "runs")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "another-home"))
    with dg.DagsterInstance.from_config(str(instance.root_directory)) as loaded:
        assert loaded.event_log_storage._base_dir == storage._base_dir, "located by the instance, not the environment"

    keys = sample_keys(samples_inbox)[:2]
    result = materialize(instance, keys)
    assert result.success
    index_engine = storage._engine("index")
    records = instance.fetch_materializations(dg.AssetKey("embeddings"), limit=10).records
    assert sorted(r.partition_key for r in records) == sorted(keys)
    assert storage._engine("index") is index_engine, "the index shard's engine is reused"
    assert index_engine.pool.checkedin() == 1, "and its one connection is kept open"
    assert os.path.exists(os.path.join(storage._base_dir, f"{result.run_id}.db"))

    for n in range(storage.MAX_ENGINES + 5):
        with storage.run_connection(f"probe-{n}"):
            pass
    assert len(storage._engines) == storage.MAX_ENGINES
    assert set(statuses(instance, keys)["embeddings"].values()) == {MATERIALIZED}


def test_instance_configured_with_the_event_log_at_its_old_path_loads(instance, tmp_path):
    """A `.dagster_home/dagster.yaml` written before the event log moved to its own module names
    `ingestion_assets.dagster_compat`: it still loads the same storage, over the same history."""
    import shutil

    import dagster as dg

    from ingestion_assets.sqlite_event_log import SqliteEventLogStorageReusingEngines

    instance.add_dynamic_partitions("documents", ["kept.txt"])
    old_home = tmp_path / "old-home"
    shutil.copytree(instance.root_directory, old_home)
    config = (old_home / "dagster.yaml").read_text()
    assert "module: ingestion_assets.sqlite_event_log" in config
    (old_home / "dagster.yaml").write_text(
        config.replace("module: ingestion_assets.sqlite_event_log", "module: ingestion_assets.dagster_compat")
    )
    with dg.DagsterInstance.from_config(str(old_home)) as loaded:
        assert type(loaded.event_log_storage) is SqliteEventLogStorageReusingEngines
        assert loaded.get_dynamic_partitions("documents") == ["kept.txt"]


def test_planned_events_are_written_in_one_batch(instance, store, samples_inbox, monkeypatch):
    """With DAGSTER_EVENT_BATCH_SIZE set (as make and ingestctl do), creating a ranged run hands
    its planned events to the event log as one batch; each is still stored and indexed, so the
    run's partitions show as planned and their failures as failed."""
    import dagster as dg
    import sqlalchemy

    from ingestion_assets.dagster_compat import SqliteEventLogStorageReusingEngines

    batches: list[list[str]] = []
    commits: list[int] = []
    store_event_batch = SqliteEventLogStorageReusingEngines.store_event_batch

    def count_commit(_connection):
        commits[-1] += 1

    def recorded(storage, events):
        batches.append([event.dagster_event_type for event in events])
        commits.append(0)
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "commit", count_commit)
        try:
            return store_event_batch(storage, events)
        finally:
            sqlalchemy.event.remove(sqlalchemy.engine.Engine, "commit", count_commit)

    monkeypatch.setattr(SqliteEventLogStorageReusingEngines, "store_event_batch", recorded)
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    keys = sample_keys(samples_inbox)[:3]
    result = materialize(instance, keys)
    assert result.success
    assert batches == [[dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED] * 3 * len(keys)]
    assert len(commits) == 1 and commits[0] <= 4 < 2 * 3 * len(keys), (
        f"{commits}: one transaction on the run's database (after creating it) and one on the index, not two per event"
    )
    in_run = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    assert sorted(r.dagster_event.partition for r in in_run) == sorted(keys * 3)
    for key in ("documents", "chunks", "embeddings"):
        indexed = instance.get_event_records(
            dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, asset_key=dg.AssetKey(key))
        )
        assert sorted(r.partition_key for r in indexed) == sorted(keys), key
    assert set(statuses(instance, keys)["embeddings"].values()) == {MATERIALIZED}


def test_run_log_watchers_wake_on_kept_connection_writes(instance, monkeypatch):
    """The UI's live run view watches the run's shard; with the writer's connection kept open,
    events reach only the write-ahead log until a checkpoint, and the watcher still sees each,
    without waking itself up by reading."""
    import logging
    import os
    import queue
    import time

    import dagster as dg
    from dagster._core.events.log import EventLogEntry
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorageWatchdog

    wakeups = Counter()
    process_log = SqliteEventLogStorageWatchdog._process_log

    def counted(watchdog):
        wakeups["n"] += 1
        return process_log(watchdog)

    monkeypatch.setattr(SqliteEventLogStorageWatchdog, "_process_log", counted)
    run_id = "watched-run"
    seen: queue.Queue[str] = queue.Queue()
    instance.event_log_storage.watch(run_id, None, lambda entry, _cursor: seen.put(entry.user_message))
    with dg.DagsterInstance.from_config(str(instance.root_directory)) as writer:
        for message in [f"event {n}" for n in range(10)]:
            entry = EventLogEntry(
                error_info=None, level=logging.INFO, user_message=message, run_id=run_id, timestamp=time.time()
            )
            writer.event_log_storage.store_event(entry)
            assert seen.get(timeout=10) == message
        assert os.path.getsize(writer.event_log_storage.path_for_shard(run_id) + "-wal") > 0, "written to the WAL"
        time.sleep(0.5)
        settled = wakeups["n"]
        time.sleep(1.5)
        assert wakeups["n"] == settled, "reading the shard does not wake its watcher"


def previous_release_schemas():
    """The tables as the previous release (commit 3a85dcc) wrote them, field for field."""
    import pyarrow as pa

    key = {b"lance-schema:unenforced-primary-key": b"true"}
    ts = pa.timestamp("us", tz="UTC")
    documents = pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False, metadata=key),
            *(pa.field(n, t) for n, t in [("source_uri", pa.string()), ("content_hash", pa.string())]),
            *(pa.field(n, t) for n, t in [("size_bytes", pa.int64()), ("mtime", ts), ("format", pa.string())]),
            *(pa.field(n, t) for n, t in [("page_count", pa.int32()), ("text", pa.large_string())]),
            *(pa.field(n, t) for n, t in [("page_offsets", pa.list_(pa.int64())), ("parser_version", pa.string())]),
            *(pa.field(n, t) for n, t in [("ingested_at", ts), ("warnings", pa.list_(pa.string()))]),
            *(pa.field(n, t) for n, t in [("title", pa.string()), ("ocr_pages", pa.int32())]),
        ]
    )
    span = [("page_start", pa.int32()), ("page_end", pa.int32())]
    chunks = pa.schema(
        [
            pa.field("chunk_id", pa.string(), nullable=False, metadata=key),
            pa.field("doc_id", pa.string(), nullable=False),
            *(pa.field(n, t) for n, t in [("seq", pa.int32()), ("text", pa.string()), ("text_hash", pa.string())]),
            *(pa.field(n, t) for n, t in [*span, ("char_start", pa.int64()), ("char_end", pa.int64())]),
            *(pa.field(n, t) for n, t in [("token_count", pa.int32()), ("chunker", pa.string())]),
            *(pa.field(n, t) for n, t in [("section", pa.string()), ("context", pa.string())]),
        ]
    )
    embeddings = pa.schema(
        [
            pa.field("chunk_id", pa.string(), nullable=False, metadata=key),
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), 384)),
            *(pa.field(n, t) for n, t in [("text", pa.string()), ("text_hash", pa.string()), *span]),
            *(pa.field(n, t) for n, t in [("model", pa.string()), ("section", pa.string())]),
        ]
    )
    return documents, chunks, embeddings


def test_row_classes_give_the_schemas_of_existing_stores():
    """The schemas derived from the row classes are the previous release's, field for field and
    metadata included, plus the columns added since (empty in existing stores, or filled by the upgrade)."""
    import pyarrow as pa

    from resources.tables import ChunkRow, DocumentRow, EmbeddingRow

    documents, chunks, embeddings = previous_release_schemas()
    source = pa.field("source", pa.string())
    added = documents.append(pa.field("metadata", pa.string())).append(source)
    assert DocumentRow.schema().equals(added, check_metadata=True)
    assert ChunkRow.schema().equals(chunks.append(source), check_metadata=True)
    assert EmbeddingRow.schema(384).equals(embeddings.append(source), check_metadata=True)
    assert DocumentRow.fills() == ChunkRow.fills() == EmbeddingRow.fills() == {"source": "default"}


def test_store_of_the_previous_release_is_upgraded_in_place(instance, store, inbox):
    """Tables written with the previous release's schemas: the next ingestion adds the new column
    (empty for the rows already there) in one commit and writes its rows; the old rows stay readable."""
    import json
    from datetime import UTC, datetime

    import lancedb
    import pyarrow as pa

    documents, chunks, embeddings = previous_release_schemas()
    db = lancedb.connect(store.uri)
    now = datetime.now(UTC)
    old_row = {
        "doc_id": "kept.txt", "source_uri": "file:///kept.txt", "content_hash": "0" * 64, "size_bytes": 4,
        "mtime": now, "format": "txt", "page_count": 1, "text": "kept", "page_offsets": [0],
        "parser_version": "parse-2", "ingested_at": now, "warnings": [], "title": "kept", "ocr_pages": 0,
    }  # fmt: skip
    db.create_table(DOCUMENTS, pa.Table.from_pylist([old_row], schema=documents))
    db.create_table(CHUNKS, schema=chunks)
    db.create_table(EMBEDDINGS, schema=embeddings)
    (inbox / "new.html").write_text(
        "<html><head><title>Tide tables</title></head><body><p>High water.</p></body></html>"
    )

    assert materialize(instance, ["new.html"]).success

    rows = {r["doc_id"]: r for r in _rows(store, DOCUMENTS)}
    assert rows["kept.txt"]["metadata"] is None and rows["kept.txt"]["text"] == "kept"
    assert rows["kept.txt"]["source"] == rows["new.html"]["source"] == "default"
    assert rows["new.html"]["title"] == "Tide tables"
    assert json.loads(rows["new.html"]["metadata"] or "{}") == {}
    assert [r["doc_id"] for r in _rows(store, EMBEDDINGS, ["doc_id"])] == ["new.html"]


def test_chunker_settings_on_their_resource_and_at_their_old_key(instance, store, inbox):
    """Chunk sizes are the `chunker` resource's; run config written before they moved sets them on
    `embedder`, and still applies; the chunker version names the splitter, tokenizer and sizes."""
    import dagster as dg

    from ingestion_assets.dagster_compat import range_tags

    assert current_versions().chunker == "sections-4:tok-c3d1df1b9310:200/30"
    (inbox / "long.txt").write_text(" ".join(f"word{i} about tidal energy." for i in range(600)))
    instance.add_dynamic_partitions("documents", ["long.txt"])
    job = current_definitions().resolve_job_def("ingest_job")
    for resources, tokens in [
        ({"chunker": {"config": {"chunk_tokens": 120, "chunk_overlap": 10}}}, "120/10"),
        ({"embedder": {"config": {"chunk_tokens": 80}}}, "80/30"),
    ]:
        result = job.execute_in_process(
            instance=instance, tags=range_tags("long.txt", "long.txt"), run_config={"resources": resources}
        )
        assert result.success
        rows = _rows(store, CHUNKS, ["chunker", "token_count"])
        assert {r["chunker"] for r in rows} == {f"sections-4:tok-c3d1df1b9310:{tokens}"}
        assert max(r["token_count"] for r in rows) <= int(tokens.split("/")[0])
        assert len(rows) > 600 * 5 // int(tokens.split("/")[0])
        materializations = instance.fetch_materializations(dg.AssetKey("chunks"), limit=1).records
        assert materializations[0].asset_materialization.tags["dagster/code_version"] == rows[0]["chunker"]
