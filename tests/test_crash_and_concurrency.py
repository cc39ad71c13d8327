"""Crash recovery over random SIGKILLs, and concurrent writers to the same LanceDB tables."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from bench.crash_trials import run_trials
from resources.lancedb_store import CHUNKS, DOCUMENTS, EMBEDDINGS
from tests.conftest import REPO, sample_keys, statuses

pytestmark = pytest.mark.slow


def test_ten_random_sigkills_recover_exactly(tmp_path):
    summary = run_trials(10, seed=3, work=tmp_path)
    assert summary["killed"] >= 8, summary
    failures = [r for r in summary["results"] if not r["ok"]]
    assert not failures, failures


RUN_ONE = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from ingestion_assets.definitions import get_ingest_job
    from ingestion_assets.keys import PHASE_KEYS
    first, last = sys.argv[1], sys.argv[2]
    job = dg.reconstructable(get_ingest_job).get_subset(asset_selection=set(PHASE_KEYS), asset_check_selection=set())
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    with dg.execute_job(job, instance=dg.DagsterInstance.get(), tags=tags) as result:
        sys.exit(0 if result.success else 1)
    """
)


def test_four_concurrent_runs_write_every_row_exactly_once(instance, store, samples_inbox):
    keys = sample_keys(samples_inbox)
    instance.add_dynamic_partitions("documents", keys)
    ranges = [(keys[0], keys[2]), (keys[3], keys[4]), (keys[5], keys[6]), (keys[5], keys[6])]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_ONE, first, last],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for first, last in ranges
    ]
    outcomes = [(p.wait(timeout=600), p.stderr.read()) for p in processes]

    assert [code for code, _ in outcomes] == [0, 0, 0, 0], [err[-2000:] for _, err in outcomes]
    for table, key in ((DOCUMENTS, "doc_id"), (CHUNKS, "chunk_id"), (EMBEDDINGS, "chunk_id")):
        rows = store.read(table, sorted({key, "doc_id"})).to_pylist()
        counts = Counter(r[key] for r in rows)
        assert max(counts.values()) == 1, (table, [k for k, n in counts.items() if n > 1])
        assert {r["doc_id"] for r in rows} == set(keys)
    chunk_ids = {r["chunk_id"] for r in store.read(CHUNKS, ["chunk_id"]).to_pylist()}
    assert chunk_ids == {r["chunk_id"] for r in store.read(EMBEDDINGS, ["chunk_id"]).to_pylist()}
    assert all(s == "MATERIALIZED" for by_doc in statuses(instance, keys).values() for s in by_doc.values())
