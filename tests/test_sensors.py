"""The inbox sensor and the nightly backfill, evaluated with build_sensor_context /
build_schedule_context on a persistent test instance; their runs executed for real."""

from __future__ import annotations

import json
import os
import shutil
import time

import dagster as dg
import pytest

from ingestion_assets.keys import CHUNKS_KEY, DOCUMENTS_KEY, EMBEDDINGS_KEY, PHASE_KEYS
from ingestion_assets.parsing import supported_suffixes
from resources.chunker_config import ChunkerConfig
from resources.document_source import DocumentSource
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import CHUNKS, DOCUMENTS, EMBEDDINGS
from tests.conftest import (
    SAMPLES,
    apply_partition_requests,
    current_definitions,
    execute_request,
    materialize,
    statuses,
)


@pytest.fixture(autouse=True)
def no_debounce(monkeypatch):
    monkeypatch.setenv("INGEST_DEBOUNCE_S", "0")


def tick(instance, inbox, store, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"source": DocumentSource(suffixes=supported_suffixes(), root_dir=str(inbox)), "lancedb": store},
    )
    result = current_definitions().resolve_sensor_def("inbox_sensor")(context)
    apply_partition_requests(instance, result)
    return result


def run_all(instance, result):
    outcomes = [execute_request(instance, r) for r in result.run_requests or []]
    return outcomes


def doc_ids(store, table):
    return sorted({r["doc_id"] for r in store.read(table, ["doc_id"]).to_pylist()})


def test_new_changed_touched_deleted(instance, store, inbox):
    for name in ["tidal-energy.txt", "beekeeping.md", "lighthouse-keeping.pdf"]:
        shutil.copy(SAMPLES / name, inbox / name)

    first = tick(instance, inbox, store)

    assert sorted(instance.get_dynamic_partitions("documents")) == sorted(
        ["tidal-energy.txt", "beekeeping.md", "lighthouse-keeping.pdf"]
    )
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert set(request.asset_selection) == set(PHASE_KEYS)
    assert request.tags["dagster/asset_partition_range_start"] == "beekeeping.md"
    assert request.tags["dagster/asset_partition_range_end"] == "tidal-energy.txt"
    assert all(o.success for o in run_all(instance, first))
    assert doc_ids(store, EMBEDDINGS) == ["beekeeping.md", "lighthouse-keeping.pdf", "tidal-energy.txt"]

    again = tick(instance, inbox, store, first.cursor)
    assert not again.run_requests and not again.dynamic_partitions_requests

    path = inbox / "beekeeping.md"
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    touched = tick(instance, inbox, store, again.cursor)
    assert not touched.run_requests

    path.write_text("# Bees\n\nA much shorter note about varroa mites.\n")
    changed = tick(instance, inbox, store, touched.cursor)
    assert len(changed.run_requests) == 1
    assert changed.run_requests[0].tags["dagster/asset_partition_range_start"] == "beekeeping.md"
    assert changed.run_requests[0].tags["dagster/asset_partition_range_end"] == "beekeeping.md"
    repeat = tick(instance, inbox, store, changed.cursor)
    assert [r.run_key for r in repeat.run_requests] == [r.run_key for r in changed.run_requests]
    run_all(instance, changed)
    assert [
        r["text"] for r in store.read(CHUNKS, ["doc_id", "text"]).to_pylist() if r["doc_id"] == "beekeeping.md"
    ] == ["# Bees\n\nA much shorter note about varroa mites."]

    (inbox / "tidal-energy.txt").unlink()
    deleted = tick(instance, inbox, store)
    assert [r.job_name for r in deleted.run_requests] == ["purge_job"]
    run_all(instance, deleted)
    assert "tidal-energy.txt" not in instance.get_dynamic_partitions("documents")
    for table in (DOCUMENTS, CHUNKS, EMBEDDINGS):
        assert doc_ids(store, table) == ["beekeeping.md", "lighthouse-keeping.pdf"]
    purged_at = {
        name: store.open_table(name).list_versions()[-1]["timestamp"] for name in (DOCUMENTS, CHUNKS, EMBEDDINGS)
    }
    assert purged_at[EMBEDDINGS] < purged_at[CHUNKS] < purged_at[DOCUMENTS], "vectors go first, documents last"
    assert not tick(instance, inbox, store).run_requests


def test_rename_reuses_parse_and_vectors(instance, store, inbox):
    shutil.copy(SAMPLES / "lighthouse-keeping.pdf", inbox / "old-name.pdf")
    run_all(instance, tick(instance, inbox, store))
    vectors_before = {r["text_hash"]: r["vector"] for r in store.read(EMBEDDINGS).to_pylist()}

    (inbox / "archive").mkdir()
    os.rename(inbox / "old-name.pdf", inbox / "archive" / "new-name.pdf")
    moved = tick(instance, inbox, store)

    assert instance.get_dynamic_partitions("documents") == ["old-name.pdf", "archive/new-name.pdf"]
    assert [r.job_name for r in moved.run_requests] == ["ingest_job"]
    assert doc_ids(store, DOCUMENTS) == ["old-name.pdf"], "old rows are kept until the new document reuses them"
    assert all(o.success for o in run_all(instance, moved))
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=DOCUMENTS_KEY, asset_partitions=["archive/new-name.pdf"]), limit=1
    ).records[0]
    assert record.asset_materialization.metadata["reused_parse_of"].value == "old-name.pdf"
    embedded = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=EMBEDDINGS_KEY, asset_partitions=["archive/new-name.pdf"]), limit=1
    ).records[0]
    assert embedded.asset_materialization.metadata["embedded"].value == 0

    cleanup = tick(instance, inbox, store)
    assert [r.job_name for r in cleanup.run_requests] == ["purge_job"]
    run_all(instance, cleanup)
    assert instance.get_dynamic_partitions("documents") == ["archive/new-name.pdf"]
    for table in (DOCUMENTS, CHUNKS, EMBEDDINGS):
        assert doc_ids(store, table) == ["archive/new-name.pdf"]
    vectors_after = {r["text_hash"]: r["vector"] for r in store.read(EMBEDDINGS).to_pylist()}
    assert vectors_after == vectors_before


def test_partial_and_fresh_files_wait(instance, store, inbox, monkeypatch):
    (inbox / "report.pdf.part").write_bytes(b"%PDF-1.7 half")
    (inbox / "download.crdownload").write_bytes(b"x")
    (inbox / ".hidden.txt").write_text("x")
    monkeypatch.setenv("INGEST_DEBOUNCE_S", "60")
    (inbox / "fresh.txt").write_text("Just written, maybe still being written.")

    result = tick(instance, inbox, store)

    assert not result.run_requests
    assert instance.get_dynamic_partitions("documents") == []
    assert '"waiting": 1' in result.cursor

    os.rename(inbox / "report.pdf.part", inbox / "report.txt")
    old = time.time_ns() - 120 * 10**9
    for name in ("report.txt", "fresh.txt"):
        os.utime(inbox / name, ns=(old, old))
    later = tick(instance, inbox, store)
    assert sorted(instance.get_dynamic_partitions("documents")) == ["fresh.txt", "report.txt"]
    assert len(later.run_requests) == 1


def test_failed_document_waits_for_a_change(instance, store, inbox):
    (inbox / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    first = tick(instance, inbox, store)
    assert [o.success for o in run_all(instance, first)] == [False]

    assert not tick(instance, inbox, store).run_requests

    shutil.copy(SAMPLES / "sourdough-bread.pdf", inbox / "broken.pdf")
    fixed = tick(instance, inbox, store)
    assert [o.success for o in run_all(instance, fixed)] == [True]
    assert statuses(instance, ["broken.pdf"])["embeddings"]["broken.pdf"] == "MATERIALIZED"


def test_cursor_stays_small(instance, store, inbox):
    for i in range(400):
        (inbox / f"note-{i:04d}.txt").write_text(f"note {i}")
    result = tick(instance, inbox, store)
    assert len(instance.get_dynamic_partitions("documents")) == 400
    assert len(result.cursor) < 400
    assert sum(len(r.tags["dagster/asset_partition_range_start"]) > 0 for r in result.run_requests) == 2


def schedule_requests(instance, inbox, store):
    context = dg.build_schedule_context(
        instance=instance,
        resources={
            "source": DocumentSource(suffixes=supported_suffixes(), root_dir=str(inbox)),
            "lancedb": store,
            "chunker": ChunkerConfig(),
            "embedder": EmbeddingModel(),
        },
    )
    result = current_definitions().resolve_schedule_def("nightly_backfill")(context)
    return [] if isinstance(result, dg.SkipReason) else list(result)


def test_nightly_selects_failed_missing_and_stale_only(instance, store, inbox):
    names = ["a-healthy.txt", "b-failed.txt", "c-no-chunks.txt", "d-stale-model.txt", "e-healthy.txt"]
    for name in names:
        (inbox / name).write_text(f"{name}: " + "Tidal energy and lighthouse lenses. " * 30)
    (inbox / "b-failed.txt").write_bytes(b"\x00binary")
    instance.add_dynamic_partitions("documents", names)
    materialize(instance, names[:2])
    materialize(instance, ["c-no-chunks.txt"], [DOCUMENTS_KEY])
    materialize(instance, names[3:])
    store.open_table(EMBEDDINGS).update(where="doc_id = 'd-stale-model.txt'", values={"model": "old/model-v0"})

    requests = schedule_requests(instance, inbox, store)

    selected = {
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]): set(
            r.asset_selection
        )
        for r in requests
    }
    assert selected == {
        ("b-failed.txt", "b-failed.txt"): set(PHASE_KEYS),
        ("c-no-chunks.txt", "c-no-chunks.txt"): {CHUNKS_KEY, EMBEDDINGS_KEY},
        ("d-stale-model.txt", "d-stale-model.txt"): {EMBEDDINGS_KEY},
    }

    (inbox / "b-failed.txt").write_text("fixed now")
    for request in requests:
        execute_request(instance, request)
    assert schedule_requests(instance, inbox, store) == []
    models = {r["model"] for r in store.read(EMBEDDINGS, ["model"]).to_pylist()}
    assert models == {"sentence-transformers/all-MiniLM-L6-v2"}


@pytest.mark.parametrize("value, expected", [(None, "RUNNING"), ("off", "STOPPED")])
def test_sensor_and_schedules_default_status(value, expected):
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {k: v for k, v in os.environ.items() if k != "INGEST_AUTOMATION"}
    if value:
        env["INGEST_AUTOMATION"] = value
    code = (
        "from ingestion_assets.definitions import defs\n"
        "defs = defs()\n"
        "print(defs.resolve_sensor_def('inbox_sensor').default_status.value,"
        " defs.resolve_schedule_def('nightly_backfill').default_status.value,"
        " defs.resolve_schedule_def('nightly_maintenance').default_status.value,"
        " defs.resolve_sensor_def('dead_run_sensor').default_status.value)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [expected] * 4


def test_tick_records_the_skipped_files_once(instance, store, inbox):
    from ingestion_assets.source_listing import SourceListing

    (inbox / "note.txt").write_text("A note about tides.")
    (inbox / "setup.exe").write_bytes(b"MZ")
    (inbox / "report.pdf.part").write_bytes(b"%PDF")
    (inbox / ".cache").mkdir()
    (inbox / ".cache" / "a.txt").write_text("x")

    first = tick(instance, inbox, store)

    assert json.loads(first.cursor)["skipped"] == 3
    [observation] = first.asset_events
    assert observation.metadata["skipped_by_reason"].value == {"unsupported type": 1, "hidden": 1, "partial upload": 1}
    assert observation.metadata["skipped_files"].value == {
        "unsupported type": ["setup.exe"],
        "hidden": [".cache/"],
        "partial upload": ["report.pdf.part"],
    }
    instance.report_runless_asset_event(observation)
    assert tick(instance, inbox, store).asset_events == [], "an unchanged listing is not recorded again"
    (inbox / "setup.exe").unlink()
    [changed] = tick(instance, inbox, store).asset_events
    assert changed.metadata["skipped"].value == 2
    latest = SourceListing.latest(instance)
    assert latest.documents == 1 and latest.skipped == {"unsupported type": 1, "hidden": 1, "partial upload": 1}
