"""Every hostile input gets its own clear outcome, and the good documents of the same batch are
ingested completely."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest

from ingestion_assets.parsing import supported_suffixes
from ingestion_assets.status import document_statuses
from resources.document_source import DocumentSource
from resources.lancedb_store import CHUNKS, DOCUMENTS, EMBEDDINGS
from resources.parser_config import ParserConfig
from resources.sources.base import FileChangedWhileReading, hash_file, read_exact
from tests import hostile_corpus
from tests.conftest import REPO, current_definitions, current_versions, materialize, sample_keys


@pytest.fixture
def hostile(inbox):
    expected = hostile_corpus.build(inbox)
    yield inbox, expected
    hostile_corpus.remove(inbox)


def test_hostile_corpus_one_outcome_per_document(instance, store, hostile):
    inbox, expected = hostile
    scan = DocumentSource(suffixes=supported_suffixes(), root_dir=str(inbox)).scan()
    keys = [f.key for f in scan.files]
    assert sorted(keys) == sorted(expected), "symlinks and '...' names are not registered"
    assert [rel for rel, _ in scan.rejected] == ["names/dots...name.txt"]
    assert "'...' is reserved" in scan.rejected[0][1]

    # The scan stays unread here (tests/test_ocr_and_headings.py reads scans).
    result = materialize(instance, keys, resources_config={"parser": {"config": {"ocr": "off"}}})

    assert not result.success
    statuses = {s.doc_id: s for s in document_statuses(instance, keys, store, current_versions())}
    texts = {r["doc_id"]: r["text"] for r in store.read(DOCUMENTS, ["doc_id", "text"]).to_pylist()}
    chunk_counts = Counter(r["doc_id"] for r in store.read(CHUNKS, ["doc_id"]).to_pylist())
    vector_counts = Counter(r["doc_id"] for r in store.read(EMBEDDINGS, ["doc_id"]).to_pylist())
    for doc_id, (outcome, detail) in expected.items():
        status = statuses[doc_id]
        if outcome == "fail":
            assert status.phases["documents"] == "failed", doc_id
            assert detail in status.error, (doc_id, status.error)
            assert doc_id not in texts
            continue
        assert status.ok, (doc_id, status.phases, status.error)
        assert chunk_counts[doc_id] == vector_counts[doc_id]
        if outcome == "ok":
            assert detail in texts[doc_id], doc_id
            assert chunk_counts[doc_id] >= 1
            assert not status.warnings, (doc_id, status.warnings)
        else:
            assert any(detail in w for w in status.warnings), (doc_id, status.warnings)
    assert chunk_counts["empty.txt"] == 0 and chunk_counts["scanned.pdf"] == 0
    assert texts["encodings/cp1252.txt"] == texts["encodings/utf8.txt"]
    assert not any("outside the source root" in t for t in texts.values())


def test_symlink_and_parent_paths_are_never_read(instance, store, hostile):
    inbox, _ = hostile
    instance.add_dynamic_partitions("documents", ["link-to-secret.txt", "../hostile-outside/secret.txt"])
    materialize(instance, ["link-to-secret.txt", "../hostile-outside/secret.txt"])
    statuses = {
        s.doc_id: s
        for s in document_statuses(
            instance, ["link-to-secret.txt", "../hostile-outside/secret.txt"], store, current_versions()
        )
    }
    assert "symbolic links are not followed" in statuses["link-to-secret.txt"].error
    assert "escapes the source root" in statuses["../hostile-outside/secret.txt"].error
    assert store.read(DOCUMENTS, ["doc_id"]).num_rows == 0


def test_file_deleted_between_detection_and_parsing(instance, store, inbox):
    (inbox / "keep.txt").write_text("This one stays, about lighthouses.")
    (inbox / "vanishing.txt").write_text("Gone before it is parsed.")
    keys = sample_keys(inbox)
    instance.add_dynamic_partitions("documents", keys)
    (inbox / "vanishing.txt").unlink()

    materialize(instance, keys)

    statuses = {s.doc_id: s for s in document_statuses(instance, keys, store, current_versions())}
    assert "no longer exists" in statuses["vanishing.txt"].error
    assert statuses["keep.txt"].ok


def test_file_modified_while_read_is_refused(tmp_path):
    path = tmp_path / "moving.txt"
    path.write_text("first version")
    content_hash, _ = hash_file(path)
    path.write_text("second, longer version")
    with pytest.raises(FileChangedWhileReading, match="changed while it was being read"):
        read_exact(path, content_hash)


def test_page_and_time_limits_fail_only_the_offending_document(instance, store, inbox):
    (inbox / "a-manual.pdf").write_bytes(hostile_corpus.big_pdf(2000))
    (inbox / "b-note.txt").write_text("A small note about harbour seals.")
    keys = sample_keys(inbox)
    instance.add_dynamic_partitions("documents", keys)
    result = (
        current_definitions()
        .resolve_job_def("ingest_job")
        .execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
            resources={"parser": ParserConfig(max_pages=1000)},
            raise_on_error=False,
        )
    )
    assert not result.success
    statuses = {s.doc_id: s for s in document_statuses(instance, keys, store, current_versions())}
    assert "too large: 2000 pages" in statuses["a-manual.pdf"].error
    assert statuses["b-note.txt"].ok

    # Run config written before the limits moved to the `parser` resource sets them on `source`.
    current_definitions().resolve_job_def("ingest_job").execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": "a-manual.pdf",
            "dagster/asset_partition_range_end": "a-manual.pdf",
        },
        run_config={"resources": {"source": {"config": {"root_dir": str(inbox), "max_parse_seconds": 0.05}}}},
        raise_on_error=False,
    )
    statuses = {s.doc_id: s for s in document_statuses(instance, ["a-manual.pdf"], store, current_versions())}
    assert "too slow" in statuses["a-manual.pdf"].error


def test_two_thousand_page_pdf_is_ingested_page_by_page(instance, store, inbox):
    (inbox / "manual.pdf").write_bytes(hostile_corpus.big_pdf(2000))
    assert materialize(instance, ["manual.pdf"]).success
    row = store.read(DOCUMENTS, ["page_count", "page_offsets"]).to_pylist()[0]
    assert row["page_count"] == 2000 and len(row["page_offsets"]) == 2000
    chunks = store.read(CHUNKS, ["page_start", "page_end", "text"]).to_pylist()
    assert max(c["page_end"] for c in chunks) == 2000
    last = max(chunks, key=lambda c: c["page_end"])
    assert "Manual page 2000." in last["text"]


@pytest.mark.slow
def test_unreadable_file_fails_alone_under_ingestctl(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "readable.txt").write_text("Readable, about mountain hares.")
    locked = inbox / "locked.txt"
    locked.write_text("nobody may read this")
    locked.chmod(0)
    (tmp_path / "home").mkdir()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "LANCEDB_URI": str(tmp_path / "db"),
        "INGEST_SOURCE_DIR": str(inbox),
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-m", "ingestctl", "ingest"]
    if os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", *command]

    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)

    assert result.returncode == 1, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("locked.txt"))
    assert "Permission denied" in line
    readable = next(line for line in result.stdout.splitlines() if line.startswith("readable.txt"))
    assert "embeddings" in readable
