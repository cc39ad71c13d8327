"""Several sources in one deployment: `sources.yaml`, a family of assets per source, document ids unique across
sources, search by source, dropping a source, and the upgrade of a store and an instance of the previous release.

Real folders, a real S3-compatible server (moto_server over HTTP), real Dagster instances and LanceDB, and the
previous release's own code (`git archive` of its commit) writing the store that this release upgrades.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import dagster as dg
import pytest

from ingestion_assets.parsing import supported_suffixes
from resources.chunker_config import ChunkerConfig
from resources.document_source import DocumentSource
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import LanceDBStore
from resources.settings import IngestSettings, load_sources
from resources.tables import TABLES
from tests.conftest import REPO, SAMPLES, apply_partition_requests, current_definitions, execute_request
from tests.test_deletions import cli_env, ingestctl

pytest_plugins = ["tests.s3_server"]

PREVIOUS_RELEASE = "2428523"
"""The last commit before sources had names: its stores have no `source` column."""


def write_sources(path: Path, sources: dict[str, dict]) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"sources": sources}))
    return path


def rows_by_source(store: LanceDBStore) -> dict[str, dict[str, str]]:
    """Per table: doc_id -> source."""
    return {
        table: {r["doc_id"]: r["source"] for r in store.read(table, ["doc_id", "source"]).to_pylist()}
        for table in TABLES
    }


# ---- the sources file ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources: [a, b]", "expected a mapping `sources:`"),
        ("sources:\n  handbook: {include: '*.md'}", "source 'handbook': expected a mapping with at least `location:`"),
        ("sources:\n  handbook: {location: /x, schedule: daily}", "unknown setting(s) ['schedule']"),
        ("sources:\n  default: {location: /x}", "`default` is the source of INGEST_SOURCE_DIR"),
        ("sources:\n  handbook: {location: /x, max_file_mb: lots}", "max_file_mb='lots'"),
        ("sources: {", "cannot read the sources file"),
    ],
)
def test_a_bad_sources_file_is_refused_naming_the_file_and_the_entry(tmp_path, text, message):
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        load_sources(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_sources_file_is_found_beside_dagster_yaml_or_named_by_the_environment(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    write_sources(home / "sources.yaml", {"handbook": {"location": str(tmp_path), "nightly_cron": "0 4 * * *"}})
    found = IngestSettings.from_env({"DAGSTER_HOME": str(home)})
    assert found.source_names == ["handbook"] and found.source_settings("handbook").nightly_cron == "0 4 * * *"

    other = write_sources(tmp_path / "elsewhere.yaml", {"site": {"location": "https://example.org/docs/"}})
    named = IngestSettings.from_env({"DAGSTER_HOME": str(home), "INGEST_SOURCES_FILE": str(other)})
    assert named.source_names == ["site"]
    assert IngestSettings.from_env({"DAGSTER_HOME": str(tmp_path)}).source_names == []
    with pytest.raises(ValueError, match="INGEST_SOURCES_FILE='/nowhere.yaml': no such file"):
        IngestSettings.from_env({"INGEST_SOURCES_FILE": "/nowhere.yaml"})
    inside = write_sources(tmp_path / "inside.yaml", {"sub": {"location": str(home / "sub")}})
    with pytest.raises(ValueError, match="source 'sub' .* lies inside source 'default'"):
        IngestSettings.from_env({"INGEST_SOURCE_DIR": str(home), "INGEST_SOURCES_FILE": str(inside)})
    twice = write_sources(tmp_path / "twice.yaml", {"a": {"location": "s3://b/p/"}, "b": {"location": "s3://b/p"}})
    with pytest.raises(ValueError, match="sources 'a' and 'b' have the same location"):
        IngestSettings.from_env({"INGEST_SOURCES_FILE": str(twice)})
    for bad in ("Handbook", "2docs", "ingestion", "a-b"):
        write_sources(other, {bad: {"location": str(tmp_path)}})
        with pytest.raises(ValueError, match="source name"):
            current_definitions_for(other)


def current_definitions_for(sources_file: Path) -> dg.Definitions:
    from ingestion_assets.definitions import build_definitions

    return build_definitions(IngestSettings.from_env({**os.environ, "INGEST_SOURCES_FILE": str(sources_file)}))


def test_each_named_source_is_a_family_and_the_default_keeps_its_names(tmp_path):
    sources = write_sources(
        tmp_path / "sources.yaml",
        {"handbook": {"location": str(tmp_path), "sensor_interval_s": 120, "nightly_cron": "15 4 * * *"}},
    )
    repository = current_definitions_for(sources).get_repository_def()
    keys = {key.to_user_string() for key in repository.assets_defs_by_key}
    assert {"documents", "chunks", "embeddings", "source_files", "source_deletions"} <= keys
    assert {"handbook/documents", "handbook/chunks", "handbook/embeddings", "handbook/source_files"} <= keys
    handbook = repository.assets_defs_by_key[dg.AssetKey(["handbook", "documents"])]
    default = repository.assets_defs_by_key[dg.AssetKey("documents")]
    assert handbook.partitions_def.name == "handbook__documents" and default.partitions_def.name == "documents"
    assert handbook.group_names_by_key[dg.AssetKey(["handbook", "documents"])] == "handbook"
    assert default.group_names_by_key[dg.AssetKey("documents")] == "ingestion"
    assert {"ingest_job", "ingest_job_celery", "handbook_ingest_job", "handbook_ingest_job_celery"} <= {
        job.name for job in repository.get_all_jobs()
    }
    sensors = {sensor.name: sensor for sensor in repository.sensor_defs}
    assert sensors["handbook_sensor"].minimum_interval_seconds == 120 and "inbox_sensor" in sensors
    schedules = {schedule.name: schedule for schedule in repository.schedule_defs}
    assert schedules["handbook_nightly_backfill"].cron_schedule == "15 4 * * *"
    assert {"nightly_backfill", "nightly_purge"} <= set(schedules)


# ---- ingestctl over folders and a bucket -----------------------------------------------------------


def test_ingestctl_ingests_every_source_with_ids_unique_across_sources(tmp_path, s3_server):
    inbox, handbook = tmp_path / "inbox", tmp_path / "handbook"
    inbox.mkdir()
    handbook.mkdir()
    (inbox / "README.md").write_text("# Team inbox\n\nMeeting notes about the harbour crane schedule.\n")
    (handbook / "README.md").write_text("# Handbook\n\nEvery employee has thirty days of paid vacation a year.\n")
    (handbook / "expenses.md").write_text("# Expenses\n\nReceipts are filed within two weeks of travel.\n")
    (handbook / "notes.txt").write_text("not included by the pattern")
    bucket = s3_server.create_bucket()
    s3_server.put(bucket, "exports/README.md", b"# Quarterly report\n\nRevenue from ferry tickets rose by a tenth.\n")
    sources = write_sources(
        tmp_path / "sources.yaml",
        {
            "handbook": {"location": str(handbook), "include": "**/*.md"},
            "reports": {"location": f"s3://{bucket}/exports/", "aws_env_prefix": "REPORTS_"},
        },
    )
    env = cli_env(tmp_path, inbox, INGEST_SOURCES_FILE=str(sources))
    for name in [n for n in env if n.startswith("AWS_")]:
        del env[name]  # the bucket must be reached through REPORTS_AWS_* only
    env.update({f"REPORTS_{name}": value for name, value in s3_server.env().items()})

    done = ingestctl("ingest", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summaries = {s["source_name"]: s for s in json.loads(done.stdout)["sources"]}
    assert {name: s["fully_ingested"] for name, s in summaries.items()} == {"default": 1, "handbook": 2, "reports": 1}
    store = LanceDBStore(uri=env["LANCEDB_URI"])
    expected = {
        "README.md": "default",
        "handbook:README.md": "handbook",
        "handbook:expenses.md": "handbook",
        "reports:README.md": "reports",
    }
    assert rows_by_source(store) == dict.fromkeys(TABLES, expected)

    found = ingestctl("search", "paid vacation days", "--source", "handbook", "--json", env=env, cwd=tmp_path)
    hits = json.loads(found.stdout)
    assert hits and {h["source"] for h in hits} == {"handbook"}
    assert hits[0]["doc_id"] == "handbook:README.md"
    everywhere = json.loads(ingestctl("search", "ferry revenue", "--json", "-k", "4", env=env, cwd=tmp_path).stdout)
    assert everywhere[0]["doc_id"] == "reports:README.md" and len({h["source"] for h in everywhere}) == 3
    unknown = ingestctl("search", "ferry", "--source", "nope", env=env, cwd=tmp_path)
    assert unknown.returncode == 2 and "no source named 'nope'" in unknown.stdout

    status = json.loads(ingestctl("status", "--source", "reports", "--json", env=env, cwd=tmp_path).stdout)
    assert [d["doc_id"] for d in status["documents"]] == ["reports:README.md"]
    everything = json.loads(ingestctl("status", "--json", env=env, cwd=tmp_path).stdout)
    assert sorted(d["doc_id"] for d in everything["documents"]) == sorted(expected)

    (handbook / "expenses.md").unlink()
    again = ingestctl("ingest", "--json", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    summaries = {s["source_name"]: s for s in json.loads(again.stdout)["sources"]}
    assert summaries["handbook"]["purged"] == ["handbook:expenses.md"]
    assert all(s["processed"] == 0 and s["purged"] == [] for name, s in summaries.items() if name != "handbook")
    del expected["handbook:expenses.md"]
    assert rows_by_source(store) == dict.fromkeys(TABLES, expected)

    only = ingestctl("ingest", "--source", "reports", "--json", env=env, cwd=tmp_path)
    assert json.loads(only.stdout)["source_name"] == "reports" and json.loads(only.stdout)["processed"] == 0

    report = ingestctl("report", "--json", "--refresh", env=env, cwd=tmp_path)
    made = json.loads(report.stdout)
    assert {name: s["documents"] for name, s in made["sources"].items()} == {"default": 1, "handbook": 1, "reports": 1}
    assert all(check["passed"] for check in made["checks"]), made["checks"]


def test_a_path_inside_a_named_source_ingests_that_part_of_it(tmp_path):
    inbox, handbook = tmp_path / "inbox", tmp_path / "handbook"
    (handbook / "travel").mkdir(parents=True)
    inbox.mkdir()
    (handbook / "travel" / "trains.md").write_text("# Trains\n\nBook second class for trips under four hours.\n")
    (handbook / "holidays.md").write_text("# Holidays\n\nThe office closes between Christmas and New Year.\n")
    sources = write_sources(tmp_path / "sources.yaml", {"handbook": {"location": str(handbook)}})
    env = cli_env(tmp_path, inbox, INGEST_SOURCES_FILE=str(sources))
    done = ingestctl("ingest", str(handbook / "travel"), "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["source_name"] == "handbook" and summary["documents"] == 1
    assert rows_by_source(LanceDBStore(uri=env["LANCEDB_URI"]))["documents"] == {
        "handbook:travel/trains.md": "handbook"
    }
    outside = ingestctl("ingest", str(inbox), "--source", "handbook", env=env, cwd=tmp_path)
    assert outside.returncode == 2 and "is not inside the source 'handbook'" in outside.stderr


# ---- the sensor, the nightly backfill and the purge of a named source -------------------------------


def test_a_named_source_has_its_own_sensor_backfill_and_purge(instance, store, inbox, tmp_path, monkeypatch):
    monkeypatch.setenv("INGEST_DEBOUNCE_S", "0")
    handbook = tmp_path / "handbook"
    handbook.mkdir()
    for name in ("a.md", "b.md", "c.md"):
        (handbook / name).write_text(f"# {name}\n\nWhat the handbook says in {name} about desks and chairs.\n")
    (inbox / "a.md").write_text("# Inbox a\n\nSomething else entirely, about boats.\n")
    sources = write_sources(tmp_path / "sources.yaml", {"handbook": {"location": str(handbook)}})
    monkeypatch.setenv("INGEST_SOURCES_FILE", str(sources))
    definitions = current_definitions()
    named = DocumentSource(name="handbook", suffixes=supported_suffixes(), root_dir=str(handbook))
    default = DocumentSource(suffixes=supported_suffixes(), root_dir=str(inbox))

    def tick(sensor: str) -> dg.SensorResult:
        resources = {"handbook_source": named, "source": default, "lancedb": store}
        context = dg.build_sensor_context(instance=instance, resources=resources)
        result = definitions.resolve_sensor_def(sensor)(context)
        apply_partition_requests(instance, result)
        return result

    first = tick("handbook_sensor")
    assert [r.job_name for r in first.run_requests] == ["handbook_ingest_job"]
    assert [r.partitions_def_name for r in first.dynamic_partitions_requests] == ["handbook__documents"]
    assert all(execute_request(instance, r).success for r in first.run_requests)
    assert instance.get_dynamic_partitions("handbook__documents") == ["handbook:a.md", "handbook:b.md", "handbook:c.md"]
    assert rows_by_source(store)["embeddings"] == dict.fromkeys(
        ["handbook:a.md", "handbook:b.md", "handbook:c.md"], "handbook"
    )

    inbox_tick = tick("inbox_sensor")
    assert [r.job_name for r in inbox_tick.run_requests] == ["ingest_job"], (
        "the default source purges nothing of handbook's"
    )
    assert all(execute_request(instance, r).success for r in inbox_tick.run_requests)
    assert rows_by_source(store)["documents"]["a.md"] == "default"

    (handbook / "b.md").unlink()
    purge = tick("handbook_sensor").run_requests
    assert [r.job_name for r in purge] == ["purge_job"]
    assert purge[0].run_config["ops"]["purge_documents"]["config"] == {
        "doc_ids": ["handbook:b.md"],
        "source": "handbook",
    }
    assert execute_request(instance, purge[0]).success
    assert instance.get_dynamic_partitions("handbook__documents") == ["handbook:a.md", "handbook:c.md"]
    assert "handbook:b.md" not in rows_by_source(store)["chunks"] and "a.md" in rows_by_source(store)["chunks"]

    schedule_resources = {
        "handbook_source": named,
        "source": default,
        "lancedb": store,
        "chunker": ChunkerConfig(),
        "embedder": EmbeddingModel(),
    }
    context = dg.build_schedule_context(instance=instance, resources=schedule_resources)
    nightly = definitions.resolve_schedule_def("handbook_nightly_backfill")(context)
    assert isinstance(nightly, dg.SkipReason) and "up to date" in nightly.skip_message
    from ingestctl.instance import CliContext
    from ingestctl.metrics import build_registry
    from tests.test_metrics import _scrape

    samples = _scrape(build_registry(CliContext.from_env()))

    def documents(source: str, state: str) -> float:
        return samples[("ingest_documents", (("phase", "embeddings"), ("source", source), ("state", state)))]

    assert documents("handbook", "materialized") == 2 and documents("default", "materialized") == 1
    assert samples[("ingest_embeddings_rows", (("source", "handbook"),))] == 2
    assert samples[("ingest_embeddings_rows", (("source", "default"),))] == 1

    (handbook / "c.md").unlink()
    purges = definitions.resolve_schedule_def("nightly_purge")(context)
    assert [r.run_config["ops"]["purge_documents"]["config"] for r in purges] == [
        {"doc_ids": ["handbook:c.md"], "source": "handbook"}
    ]


# ---- dropping a source ------------------------------------------------------------------------------


def test_drop_source_removes_its_rows_partitions_and_history(tmp_path):
    inbox, handbook = tmp_path / "inbox", tmp_path / "handbook"
    inbox.mkdir()
    handbook.mkdir()
    (inbox / "keep.md").write_text("# Kept\n\nThe default source's own document about lighthouses.\n")
    (handbook / "gone.md").write_text("# Gone\n\nA handbook page about parking permits.\n")
    sources = write_sources(tmp_path / "sources.yaml", {"handbook": {"location": str(handbook)}})
    env = cli_env(tmp_path, inbox, INGEST_SOURCES_FILE=str(sources))
    assert ingestctl("ingest", env=env, cwd=tmp_path).returncode == 0

    still = ingestctl("drop-source", "handbook", "--yes", env=env, cwd=tmp_path)
    assert still.returncode == 2 and "still configured" in still.stderr
    write_sources(sources, {})
    dry = ingestctl("drop-source", "handbook", env=env, cwd=tmp_path)
    assert dry.returncode == 0 and "would remove source 'handbook': 1 partition(s)" in dry.stdout
    store = LanceDBStore(uri=env["LANCEDB_URI"])
    assert "handbook:gone.md" in rows_by_source(store)["documents"]

    dropped = ingestctl("drop-source", "handbook", "--yes", env=env, cwd=tmp_path)
    assert dropped.returncode == 0, dropped.stderr
    assert rows_by_source(store) == dict.fromkeys(TABLES, {"keep.md": "default"})
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert instance.get_dynamic_partitions("handbook__documents") == []
        assert not [key for key in instance.get_asset_keys() if key.path[0] == "handbook"]
        assert instance.get_dynamic_partitions("documents") == ["keep.md"]
    report = json.loads(ingestctl("report", "--json", "--refresh", env=env, cwd=tmp_path).stdout)
    assert all(check["passed"] for check in report["checks"]), report["checks"]


# ---- the upgrade of the previous release's store and instance ----------------------------------------


def previous_release(folder: Path) -> Path:
    """The previous release's code, unpacked from git (no work tree of it is needed)."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the previous release cannot be unpacked")
    archive = folder / "previous.tar"
    subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(archive), PREVIOUS_RELEASE], check=True
    )
    code = folder / "previous"
    with tarfile.open(archive) as tar:
        tar.extractall(code, filter="data")
    return code


def test_a_store_and_instance_of_the_previous_release_are_upgraded(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for sample in ("handbook.md", "notes.txt"):
        if (SAMPLES / sample).exists():
            (inbox / sample).write_text((SAMPLES / sample).read_text())
    if not any(inbox.iterdir()):
        for path in sorted(SAMPLES.glob("*.md"))[:2]:
            (inbox / path.name).write_text(path.read_text())
    env = cli_env(tmp_path, inbox)
    old = previous_release(tmp_path)
    before = subprocess.run(
        [sys.executable, "-m", "ingestctl", "ingest", "--json"],
        env={**env, "PYTHONPATH": str(old)},
        cwd=old,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert before.returncode == 0, before.stderr
    store = LanceDBStore(uri=env["LANCEDB_URI"])
    assert "source" not in store.connect().open_table("documents").schema.names
    old_ids = sorted(store.document_ids("embeddings"))
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        history = len(instance.fetch_materializations(dg.AssetKey("documents"), limit=100).records)

    noop = ingestctl("ingest", "--json", env=env, cwd=tmp_path)
    assert noop.returncode == 0, noop.stderr
    assert json.loads(noop.stdout)["processed"] == 0 and json.loads(noop.stdout)["runs"] == 0
    found = json.loads(ingestctl("search", "the", "--source", "default", "--json", env=env, cwd=tmp_path).stdout)
    assert found and {hit["doc_id"] for hit in found} <= set(old_ids)
    status = json.loads(ingestctl("status", "--json", env=env, cwd=tmp_path).stdout)
    assert sorted(d["doc_id"] for d in status["documents"]) == old_ids
    assert all(d["phases"]["embeddings"] == "materialized" for d in status["documents"])

    handbook = tmp_path / "handbook"
    handbook.mkdir()
    (handbook / "new.md").write_text("# New source\n\nA page of the newly named source about bicycles.\n")
    sources = write_sources(tmp_path / "sources.yaml", {"handbook": {"location": str(handbook)}})
    env["INGEST_SOURCES_FILE"] = str(sources)
    added = ingestctl("ingest", "--json", env=env, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    by_source = rows_by_source(store)
    assert by_source["embeddings"] == {**dict.fromkeys(old_ids, "default"), "handbook:new.md": "handbook"}
    assert all(table == by_source["embeddings"] for table in by_source.values())
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert len(instance.fetch_materializations(dg.AssetKey("documents"), limit=100).records) == history
    report = json.loads(ingestctl("report", "--json", "--refresh", env=env, cwd=tmp_path).stdout)
    assert all(check["passed"] for check in report["checks"]), report["checks"]
