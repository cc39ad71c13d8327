"""The pure decisions, fast: classifying a listing, the phases a document needs, staleness, the dead-run sensor."""

from __future__ import annotations

import dataclasses
import os
import subprocess

import dagster as dg
import pytest

from ingestion_assets.keys import CHUNKS_KEY, DOCUMENTS_KEY, EMBEDDINGS_KEY, PHASE_KEYS
from ingestion_assets.parsing import supported_suffixes
from ingestion_assets.phase_versions import PhaseVersions
from ingestion_assets.planning import classify_listing, phases_needed, plan_runs
from ingestion_assets.run_health import PID_TAG, host_tags
from resources.document_source import DocumentSource
from resources.lancedb_store import Fingerprint, StoredVersions
from resources.tables import CHUNKS, DOCUMENTS, EMBEDDINGS
from sensors.dead_run_sensor import build_dead_run_sensor

VERSIONS = PhaseVersions("parse-now", "chunk-now", "model-now")
Status = dg.AssetPartitionStatus


def stored_as_listed(source: DocumentSource, key: str, parser: str = "parse-now") -> Fingerprint:
    file = next(f for f in source.scan().files if f.key == key)
    return Fingerprint(file.size_bytes, file.mtime_ns // 1000, source.content_hash(key).sha256, parser)


def test_classify_listing(tmp_path):
    for name in ("same.txt", "edited.txt", "touched.txt", "fresh.txt", "unstored.txt", "renamed-to.txt"):
        (tmp_path / name).write_text(f"{name} text")
    (tmp_path / "renamed-to.txt").write_text("moved text")
    source = DocumentSource(suffixes=supported_suffixes(), root_dir=str(tmp_path))
    stored = {key: stored_as_listed(source, key) for key in ("same.txt", "edited.txt", "touched.txt")}
    stored["gone.txt"] = Fingerprint(3, 0, "0" * 64, "parse-now")
    stored["renamed-from.txt"] = Fingerprint(10, 0, source.content_hash("renamed-to.txt").sha256, "parse-now")
    (tmp_path / "edited.txt").write_text("edited.txt text, longer now")
    os.utime(tmp_path / "touched.txt", ns=(1, 1))
    registered = ["same.txt", "edited.txt", "touched.txt", "unstored.txt", "gone.txt", "renamed-to.txt"]
    files = source.scan().files

    changes = classify_listing(files, registered, stored, source)

    assert [f.key for f in changes.new] == ["fresh.txt"]
    assert sorted(f.key for f in changes.changed) == ["edited.txt", "renamed-to.txt", "unstored.txt"]
    assert sorted(f.key for f in changes.unchanged) == ["same.txt", "touched.txt"]


def test_unreadable_file_counts_as_changed(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    source = DocumentSource(suffixes=supported_suffixes(), root_dir=str(tmp_path))
    stored = {"a.txt": stored_as_listed(source, "a.txt")}
    files = [dataclasses.replace(f, mtime_ns=5) for f in source.scan().files]
    (tmp_path / "a.txt").unlink()
    changes = classify_listing(files, ["a.txt"], stored, source)
    assert [f.key for f in changes.changed] == ["a.txt"], "its run fails it with the reason instead of the plan"


def test_phases_needed_from_status_staleness_and_change(tmp_path):
    names = ["done", "in-progress", "failed-parse", "no-chunks", "old-parser", "old-chunker", "old-model", "edited"]
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "doc.txt").write_text(name)
    files = DocumentSource(suffixes=supported_suffixes(), root_dir=str(tmp_path)).scan().files
    keys = [f.key for f in files]
    statuses = {key: dict.fromkeys(keys, Status.MATERIALIZED) for key in PHASE_KEYS}
    statuses[EMBEDDINGS_KEY]["in-progress/doc.txt"] = Status.IN_PROGRESS
    statuses[DOCUMENTS_KEY]["failed-parse/doc.txt"] = Status.FAILED
    statuses[CHUNKS_KEY]["no-chunks/doc.txt"] = None
    stored = StoredVersions(
        fingerprints={
            k: Fingerprint(1, 1, "h", "parse-old" if k.startswith("old-parser") else "parse-now") for k in keys
        },
        chunkers={k: frozenset({"chunk-old" if k.startswith("old-chunker") else "chunk-now"}) for k in keys},
        models={k: frozenset({"model-now", "model-old"} if k.startswith("old-model") else {"model-now"}) for k in keys},
    )

    needed = phases_needed(files, {"edited/doc.txt"}, statuses, stored, VERSIONS)

    assert needed == {
        "failed-parse/doc.txt": PHASE_KEYS,
        "no-chunks/doc.txt": (CHUNKS_KEY, EMBEDDINGS_KEY),
        "old-parser/doc.txt": PHASE_KEYS,
        "old-chunker/doc.txt": (CHUNKS_KEY, EMBEDDINGS_KEY),
        "old-model/doc.txt": (EMBEDDINGS_KEY,),
        "edited/doc.txt": PHASE_KEYS,
    }
    assert VERSIONS.stale_tables(stored, "old-model/doc.txt") == {EMBEDDINGS}
    assert VERSIONS.stale_tables(stored, "old-parser/doc.txt") == {DOCUMENTS}
    assert VERSIONS.stale_tables(stored, "old-chunker/doc.txt") == {CHUNKS}
    assert VERSIONS.stale_tables(stored, "never-stored") == set()
    runs = plan_runs(keys, needed, max_docs_per_run=1)
    assert [(r.keys, r.asset_keys) for r in runs] == [((k,), needed[k]) for k in keys if k in needed]


@pytest.fixture
def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_dead_run_sensor_fails_runs_whose_process_is_gone(instance, dead_pid):
    @dg.op
    def noop() -> None:
        pass

    @dg.job
    def probe_job():
        noop()

    dead = instance.create_run_for_job(probe_job, tags={**host_tags(), PID_TAG: str(dead_pid)})
    alive = instance.create_run_for_job(probe_job, tags={**host_tags(), PID_TAG: str(os.getpid())})
    sensor = build_dead_run_sensor(30, running=True)

    result = sensor(dg.build_sensor_context(instance=instance))

    assert isinstance(result, dg.SkipReason) and dead.run_id in result.skip_message
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.NOT_STARTED
    assert sensor(dg.build_sensor_context(instance=instance)).skip_message == "no dead runs"
