"""End to end under a real `dagster-daemon`: files dropped into the inbox become vectors with no
click; edits and deletions follow; a run worker SIGKILLed mid-embedding is resumed with exactly
the expected rows."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType

from resources.lancedb_store import CHUNKS, DOCUMENTS, EMBEDDINGS, LanceDBStore
from tests.conftest import REPO, SAMPLES

pytestmark = pytest.mark.slow

TEXT = (SAMPLES / "tidal-energy.txt").read_text().split()


def unique_text(i: int, words: int = 2500) -> str:
    """Natural words, with this document's number woven in so no chunk is shared with another."""
    out = []
    for j in range(words):
        out.append(TEXT[(j * 7 + i) % len(TEXT)])
        if j % 12 == 11:
            out.append(f"(note {i}-{j}).\n" if j % 96 == 95 else f"(note {i}-{j}).")
    return " ".join(out)


def wait_for(predicate, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def docs_in(store: LanceDBStore, table: str) -> set[str]:
    try:
        return {r["doc_id"] for r in store.read(table, ["doc_id"]).to_pylist()}
    except Exception:
        return set()


@contextmanager
def running_daemon(
    tmp_path: Path, source: str, sources_yaml: str = "", env_extra: dict[str, str] | None = None
) -> Iterator[tuple[dg.DagsterInstance, LanceDBStore, subprocess.Popen]]:
    """A `dagster-daemon` on an instance of its own, watching `source` (a folder or an s3:// URL) and the named
    sources of `sources_yaml` (written beside its dagster.yaml)."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    if sources_yaml:
        (home / "sources.yaml").write_text(sources_yaml)
    env = {
        **os.environ,
        **(env_extra or {}),
        "DAGSTER_HOME": str(home),
        "INGEST_SOURCE_DIR": source,
        "LANCEDB_URI": str(tmp_path / "lancedb"),
        "INGEST_SENSOR_INTERVAL_S": "2",
        "INGEST_DEBOUNCE_S": "1",
        "INGEST_REPORT_INTERVAL_S": "5",
        "PYTHONPATH": str(REPO),
    }
    log = open(tmp_path / "daemon.log", "w")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with dg.DagsterInstance.get() as instance:
            yield instance, LanceDBStore(uri=str(tmp_path / "lancedb")), process
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        log.close()
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
        if os.environ.get("E2E_SHOW_LOG"):
            print((tmp_path / "daemon.log").read_text()[-20000:])


@pytest.fixture
def daemon(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with running_daemon(tmp_path, str(inbox)) as (instance, store, process):
        yield instance, inbox, store, process


def test_inbox_to_vectors_edit_delete_and_resume_after_sigkill(daemon):
    instance, inbox, store, process = daemon

    shutil.copy(SAMPLES / "lighthouse-keeping.pdf", inbox / "lighthouse.pdf.part")
    os.rename(inbox / "lighthouse.pdf.part", inbox / "lighthouse.pdf")
    shutil.copy(SAMPLES / "beekeeping.md", inbox / "beekeeping.md")
    dropped = time.monotonic()
    wait_for(lambda: docs_in(store, EMBEDDINGS) == {"lighthouse.pdf", "beekeeping.md"}, 300, "first vectors")
    print(f"drop to vectors: {time.monotonic() - dropped:.1f} s")

    (inbox / "beekeeping.md").write_text("# Bees\n\nOnly one sentence about the waggle dance remains.\n")
    (inbox / "lighthouse.pdf").unlink()
    wait_for(
        lambda: (
            docs_in(store, DOCUMENTS) == {"beekeeping.md"}
            and [r["text"] for r in store.read(EMBEDDINGS, ["text"]).to_pylist()]
            == ["# Bees\n\nOnly one sentence about the waggle dance remains."]
        ),
        300,
        "edit and deletion to reach LanceDB",
    )
    assert "lighthouse.pdf" not in instance.get_dynamic_partitions("documents")

    names = [f"batch/doc-{i:02d}.txt" for i in range(8)]
    (inbox / "batch").mkdir()
    for i, name in enumerate(names):
        (inbox / name).write_text(unique_text(i))

    def embedding_in_progress():
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="ingest_job", statuses=[dg.DagsterRunStatus.STARTED]))
        for run in runs:
            chunked = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
            if any(r.event_log_entry.asset_materialization.asset_key.path == ["chunks"] for r in chunked):
                return run
        return None

    victim = wait_for(embedding_in_progress, 300, "a run to reach the embedding phase", interval=0.2)
    start = instance.get_records_for_run(victim.run_id, of_type=DagsterEventType.RUN_START).records[0]
    assert not docs_in(store, EMBEDDINGS) & set(names)
    os.kill(start.event_log_entry.dagster_event.pid, signal.SIGKILL)

    wait_for(
        lambda: instance.get_run_by_id(victim.run_id).status == dg.DagsterRunStatus.FAILURE,
        120,
        "the dead run to be marked failed",
    )
    expected = {"beekeeping.md", *names}
    wait_for(lambda: docs_in(store, EMBEDDINGS) == expected, 400, "the interrupted batch to be resumed")
    wait_for(
        lambda: (
            not instance.get_runs(
                filters=dg.RunsFilter(
                    statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING]
                )
            )
        ),
        120,
        "runs to settle",
    )

    chunks = store.read(CHUNKS, ["chunk_id", "doc_id"]).to_pylist()
    embeddings = store.read(EMBEDDINGS, ["chunk_id", "doc_id"]).to_pylist()
    assert max(Counter(r["chunk_id"] for r in chunks).values()) == 1
    assert max(Counter(r["chunk_id"] for r in embeddings).values()) == 1
    assert {r["chunk_id"] for r in chunks} == {r["chunk_id"] for r in embeddings}
    assert docs_in(store, DOCUMENTS) == expected
    status = instance.get_status_by_partition(
        dg.AssetKey("embeddings"), sorted(expected), dg.DynamicPartitionsDefinition(name="documents")
    )
    assert set(status.values()) == {dg.AssetPartitionStatus.MATERIALIZED}
    assert process.poll() is None, "the daemon kept running"


def test_daemon_holds_a_mass_deletion_until_confirmed_by_the_cli(daemon, tmp_path):
    instance, inbox, store, process = daemon
    names = [f"d{i:02d}.txt" for i in range(12)]
    for i, name in enumerate(names):
        (inbox / name).write_text(unique_text(i, words=60))
    wait_for(lambda: docs_in(store, EMBEDDINGS) == set(names), 300, "the first vectors")

    def reported() -> int:
        records = instance.fetch_materializations(dg.AssetKey("ingestion_report"), limit=1).records
        return records[0].asset_materialization.metadata["documents"].value if records else 0

    wait_for(lambda: reported() == 12, 120, "report_sensor to refresh the report after the ingestion")

    for name in names:  # the share is unmounted: an empty folder where the documents were
        (inbox / name).unlink()
    (inbox / "new.txt").write_text(unique_text(99, words=60))
    wait_for(lambda: "new.txt" in docs_in(store, EMBEDDINGS), 300, "the new file, ingested during the hold")

    def held() -> bool:
        records = instance.fetch_observations(dg.AssetKey("source_deletions"), limit=1).records
        return bool(records) and records[0].asset_observation.metadata["state"].value == "held"

    wait_for(held, 120, "the hold to be recorded")
    time.sleep(6)  # three more ticks
    assert docs_in(store, DOCUMENTS) == {*names, "new.txt"}, "nothing purged while held"

    env = {
        **os.environ,
        "DAGSTER_HOME": instance.root_directory,
        "INGEST_SOURCE_DIR": str(inbox),
        "LANCEDB_URI": store.uri,
        "PYTHONPATH": str(REPO),
    }
    confirmed = subprocess.run(
        [sys.executable, "-m", "ingestctl", "confirm-deletions"], env=env, capture_output=True, text=True, timeout=300
    )
    assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    assert "confirmed: the 12 document(s)" in confirmed.stdout
    wait_for(
        lambda: all(docs_in(store, table) == {"new.txt"} for table in (DOCUMENTS, CHUNKS, EMBEDDINGS)),
        300,
        "the daemon's sensor to purge the confirmed deletion",
    )
    wait_for(lambda: instance.get_dynamic_partitions("documents") == ["new.txt"], 60, "the partitions to go")
    assert process.poll() is None, "the daemon kept running"


def test_daemon_runs_the_sensors_of_named_sources_a_folder_and_a_site(tmp_path):
    from tests.web_site import CHAIN, DEFAULT_DOCUMENTS, WebSite

    inbox, handbook = tmp_path / "inbox", tmp_path / "handbook"
    inbox.mkdir()
    handbook.mkdir()
    with WebSite(tmp_path / "web") as site:
        site.delete("/docs/huge.html")
        sources = (
            f"sources:\n  handbook:\n    location: {handbook}\n    sensor_interval_s: 2\n"
            f"  docs:\n    location: {site.url('/docs/')}\n    sensor_interval_s: 2\n"
            f"    requests_per_second: 500\n    max_depth: {CHAIN + 2}\n"
        )
        web = {"INGEST_WEB_ALLOWED_PRIVATE_HOSTS": "127.0.0.1"}
        with running_daemon(tmp_path, str(inbox), sources, web) as (instance, store, _):
            (inbox / "a.txt").write_text(unique_text(1, 300))
            for i in range(3):
                (handbook / f"h{i}.txt").write_text(unique_text(10 + i, 300))
            site_ids = {f"docs:{key}" for key in DEFAULT_DOCUMENTS - {"huge.html"}}
            expected = {"a.txt", "handbook:h0.txt", "handbook:h1.txt", "handbook:h2.txt"} | site_ids
            wait_for(lambda: expected <= docs_in(store, EMBEDDINGS), 240, "every source's documents embedded")
            assert set(instance.get_dynamic_partitions("handbook__documents")) == {
                "handbook:h0.txt",
                "handbook:h1.txt",
                "handbook:h2.txt",
            }
            assert set(instance.get_dynamic_partitions("docs__documents")) == site_ids

            (handbook / "h1.txt").unlink()
            site.delete("/docs/faq.html")
            wait_for(
                lambda: not {"handbook:h1.txt", "docs:faq.html"} & docs_in(store, DOCUMENTS),
                120,
                "the daemon's sensors to purge a deleted file and a deleted page",
            )
            assert "a.txt" in docs_in(store, EMBEDDINGS) and "handbook:h0.txt" in docs_in(store, EMBEDDINGS)
