"""Status, checks, search, report and maintenance, on real runs and real faults."""

from __future__ import annotations

import shutil

import dagster as dg
import numpy as np
import pyarrow as pa
import pytest

from ingestion_assets import verification
from ingestion_assets.keys import PHASE_KEYS
from ingestion_assets.parsing import supported_suffixes
from ingestion_assets.report import ReportSettings, build_report
from ingestion_assets.search import search
from ingestion_assets.status import document_statuses
from resources.document_source import DocumentSource
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import CHUNKS, EMBEDDINGS
from tests.conftest import SAMPLES, current_definitions, current_versions, materialize, sample_keys


@pytest.fixture(scope="module")
def model():
    return EmbeddingModel()


@pytest.fixture
def ingested(instance, store, samples_inbox):
    keys = sample_keys(samples_inbox)
    assert materialize(instance, keys).success
    return keys


def run_checks(instance, store, source_dir, model):
    source = DocumentSource(suffixes=supported_suffixes(), root_dir=str(source_dir))
    return {
        "parity": verification.parity(instance, store, current_versions().model, 0.5),
        "orphans": verification.orphans(instance, store, [source]),
        "reconcile": verification.reconcile(instance, store),
        "vectors": verification.vectors(store, model.dimensions),
    }


def test_status_reports_every_state(instance, store, inbox):
    for name in ["a-done.txt", "b-broken.txt", "c-stale.txt"]:
        shutil.copy(SAMPLES / "tidal-energy.txt", inbox / name)
    (inbox / "b-broken.txt").write_bytes(b"\x00\x00 binary")
    (inbox / "d-missing.txt").write_text("never ingested")
    (inbox / "e-running.txt").write_text("queued")
    materialize(instance, ["a-done.txt", "b-broken.txt", "c-stale.txt"])
    instance.add_dynamic_partitions("documents", ["d-missing.txt", "e-running.txt"])
    store.open_table(EMBEDDINGS).update(where="doc_id = 'c-stale.txt'", values={"model": "old/model"})
    job = current_definitions().resolve_job_def("ingest_job")
    instance.create_run_for_job(
        job,
        tags={
            "dagster/asset_partition_range_start": "e-running.txt",
            "dagster/asset_partition_range_end": "e-running.txt",
        },
        asset_selection=frozenset(PHASE_KEYS),
    )

    statuses = {s.doc_id: s for s in document_statuses(instance, sample_keys(inbox), store, current_versions())}

    assert statuses["a-done.txt"].phases == dict.fromkeys(["documents", "chunks", "embeddings"], "materialized")
    assert statuses["a-done.txt"].chunks > 1 and statuses["a-done.txt"].last_materialized
    assert statuses["b-broken.txt"].phases["documents"] == "failed"
    assert "NUL bytes" in statuses["b-broken.txt"].error
    assert statuses["c-stale.txt"].phases == {
        "documents": "materialized",
        "chunks": "materialized",
        "embeddings": "stale",
    }
    assert statuses["d-missing.txt"].phases == dict.fromkeys(["documents", "chunks", "embeddings"], "missing")
    assert statuses["e-running.txt"].phases == dict.fromkeys(["documents", "chunks", "embeddings"], "in progress")


def test_checks_pass_on_a_healthy_store(instance, store, samples_inbox, ingested, model):
    outcomes = run_checks(instance, store, samples_inbox, model)
    assert {name: o.passed for name, o in outcomes.items()} == dict.fromkeys(outcomes, True)
    assert outcomes["parity"].metadata["chunks"] == store.read(CHUNKS, ["chunk_id"]).num_rows


def test_parity_and_reconcile_fail_when_embeddings_are_deleted(instance, store, samples_inbox, ingested, model):
    store.open_table(EMBEDDINGS).delete("doc_id = 'beekeeping.md'")
    outcomes = run_checks(instance, store, samples_inbox, model)
    assert not outcomes["parity"].passed and outcomes["parity"].offending == ["beekeeping.md"]
    assert outcomes["parity"].metadata["drift_pct"] > 0.5
    assert not outcomes["reconcile"].passed and "beekeeping.md" in outcomes["reconcile"].offending
    assert outcomes["vectors"].passed and outcomes["orphans"].passed


def test_orphans_fail_on_an_orphan_row_and_a_removed_partition(instance, store, samples_inbox, ingested, model):
    table = store.open_table(CHUNKS)
    ghost = table.search().where("doc_id = 'tidal-energy.txt'").limit(1).to_arrow()
    ghost = ghost.set_column(ghost.schema.get_field_index("doc_id"), "doc_id", pa.array(["ghost.txt"]))
    ghost = ghost.set_column(ghost.schema.get_field_index("chunk_id"), "chunk_id", pa.array(["ghost-chunk"]))
    table.add(ghost)
    instance.delete_dynamic_partition("documents", "beekeeping.md")

    outcome = run_checks(instance, store, samples_inbox, model)["orphans"]

    assert not outcome.passed
    assert outcome.offending == ["beekeeping.md", "ghost.txt"]


def test_vectors_fail_on_nan(instance, store, samples_inbox, ingested, model):
    table = store.open_table(EMBEDDINGS)
    row = table.search().where("doc_id = 'tidal-energy.txt'").limit(1).to_list()[0]
    vector = np.array(row["vector"], dtype=np.float32)
    vector[3] = np.nan
    row = {k: v for k, v in row.items() if k in table.schema.names} | {"vector": vector.tolist()}
    table.delete(f"chunk_id = '{row['chunk_id']}'")
    table.add(pa.Table.from_pylist([row], schema=table.schema), on_bad_vectors="null")
    assert table.search().where(f"chunk_id = '{row['chunk_id']}'").to_list()[0]["vector"] is None
    outcome = run_checks(instance, store, samples_inbox, model)["vectors"]
    assert not outcome.passed and outcome.metadata["nan"] == 1 and outcome.offending == ["tidal-energy.txt"]


def test_search_finds_documents_by_content(instance, store, ingested, model):
    for hybrid in (False, True):
        assert (
            search(store, model, "How do keepers polish the Fresnel lens?", 3, hybrid)[0].doc_id
            == "lighthouse-keeping.pdf"
        )
        hits = search(store, model, "spring menu with rhubarb", 3, hybrid)
        assert hits[0].doc_id == "notes/Café menu, spring edition.txt"
    pdf_hit = search(store, model, "automation of lighthouses", 1)[0]
    assert 1 <= pdf_hit.page_start <= pdf_hit.page_end <= 4


def test_report_ready_flips_on_failed_check_or_empty_query(instance, store, samples_inbox, ingested, model, tmp_path):
    queries = tmp_path / "queries.yaml"
    shutil.copy(SAMPLES / "queries.yaml", queries)
    source = DocumentSource(suffixes=supported_suffixes(), root_dir=str(samples_inbox))
    report = build_report(instance, store, [source], model, ReportSettings(str(queries)))
    assert report["ready_for_queries"] is True
    assert all(q["expected_in_top3"] for q in report["sample_queries"])

    unanswerable = tmp_path / "unanswerable.yaml"
    unanswerable.write_text(queries.read_text() + '- query: "lattice quantum chromodynamics gauge fields"\n')
    report = build_report(instance, store, [source], model, ReportSettings(str(unanswerable)))
    assert report["ready_for_queries"] is False
    assert report["sample_queries"][-1]["hits"] == 0

    store.open_table(EMBEDDINGS).delete("doc_id = 'beekeeping.md'")
    report = build_report(instance, store, [source], model, ReportSettings(str(queries)))
    assert report["ready_for_queries"] is False
    assert [c["name"] for c in report["checks"] if not c["passed"]] == ["parity", "reconcile"]


def test_maintenance_compacts_and_search_is_unchanged(instance, store, samples_inbox, model):
    keys = sample_keys(samples_inbox)
    for key in keys:
        materialize(instance, [key])
    fragments = store.table_stats()[EMBEDDINGS]["fragments"]
    assert fragments >= len(keys)
    query = "How does a tidal barrage generate electricity?"
    before = [(h.chunk_id, h.score) for h in search(store, model, query, 5)]

    result = (
        current_definitions()
        .resolve_job_def("maintenance_job")
        .execute_in_process(instance=instance, raise_on_error=False)
    )

    assert result.success
    stats = store.table_stats()
    assert stats[EMBEDDINGS]["fragments"] < fragments
    assert stats[EMBEDDINGS]["indices"] >= 3
    assert [(h.chunk_id, h.score) for h in search(store, model, query, 5)] == before
    report = instance.get_latest_materialization_event(dg.AssetKey("ingestion_report")).asset_materialization
    assert report.metadata["ready_for_queries"].value is True
    checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("ingestion_report"), "orphans")]
    )
    assert checks
