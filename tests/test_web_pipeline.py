"""A site as a source of the deployment, beside a folder and a bucket: through `ingestctl`, the sensors, the nightly
backfill and the purge; re-crawls that ask only conditionally and embed nothing; deletions of pages, and deletions
held while the site answers errors.

Real servers on 127.0.0.1: the generated site of tests/web_site.py and moto_server; real Dagster and LanceDB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import dagster as dg
import pytest

from ingestion_assets.parsing import supported_suffixes
from resources.chunker_config import ChunkerConfig
from resources.document_source import DocumentSource
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import LanceDBStore
from resources.settings import IngestSettings
from resources.tables import TABLES
from tests.conftest import apply_partition_requests, current_definitions, execute_request
from tests.test_deletions import cli_env, ingestctl
from tests.test_sources import rows_by_source, write_sources
from tests.web_site import CHAIN, DEFAULT_DOCUMENTS, PDF_TEXT, WebSite

pytest_plugins = ["tests.s3_server"]

REDIRECTS = {"/docs/guide", "/docs/old-guide", "/docs/moved-out", "/docs/elsewhere"}
"""The default site's redirecting paths: a crawl asks them again, unconditionally."""
SITE = {"requests_per_second": 500, "max_depth": CHAIN + 2}


@pytest.fixture
def site(tmp_path) -> Iterator[WebSite]:
    with WebSite(tmp_path / "web") as running:
        running.delete("/docs/huge.html")
        yield running


def site_documents() -> set[str]:
    return {f"docs:{key}" for key in DEFAULT_DOCUMENTS - {"huge.html"}}


def page_requests(site: WebSite, since: int):
    return [r for r in site.requests(since) if r.path.startswith("/docs/") and not r.path.endswith(".xml")]


def test_ingestctl_over_a_site_a_folder_and_a_bucket(tmp_path, site, s3_server):
    inbox, handbook = tmp_path / "inbox", tmp_path / "handbook"
    inbox.mkdir()
    handbook.mkdir()
    (handbook / "leave.md").write_text("# Leave\n\nParental leave is sixteen weeks.\n")
    bucket = s3_server.create_bucket()
    s3_server.put(bucket, "q3.md", b"# Q3\n\nThe ferry line carried more passengers than ever.\n")
    sources = write_sources(
        tmp_path / "sources.yaml",
        {
            "handbook": {"location": str(handbook)},
            "reports": {"location": f"s3://{bucket}/", "aws_env_prefix": "REPORTS_"},
            "docs": {"location": site.url("/docs/"), **SITE},
        },
    )
    env = cli_env(tmp_path, inbox, INGEST_SOURCES_FILE=str(sources), INGEST_WEB_ALLOWED_PRIVATE_HOSTS="127.0.0.1")
    env.update({f"REPORTS_{name}": value for name, value in s3_server.env().items()})

    first = ingestctl("ingest", "--json", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr + first.stdout
    summaries = {s["source_name"]: s for s in json.loads(first.stdout)["sources"]}
    assert summaries["docs"]["source"] == site.url("/docs/")
    assert summaries["docs"]["fully_ingested"] == len(site_documents())
    assert {"query string", "disallowed by robots.txt", "redirect refused"} <= set(summaries["docs"]["skipped_files"])
    store = LanceDBStore(uri=env["LANCEDB_URI"])
    stored = rows_by_source(store)["embeddings"]
    assert {d for d, s in stored.items() if s == "docs"} == site_documents()
    assert stored["handbook:leave.md"] == "handbook" and stored["reports:q3.md"] == "reports"
    uris = {r["doc_id"]: r["source_uri"] for r in store.read("documents", ["doc_id", "source_uri"]).to_pylist()}
    assert uris["docs:guide/index.html"] == site.url("/docs/guide/")
    assert uris["docs:guide/intro"] == site.url("/docs/guide/intro")

    hits = json.loads(ingestctl("search", PDF_TEXT, "--source", "docs", "--json", env=env, cwd=tmp_path).stdout)
    assert hits[0]["doc_id"] == "docs:manual.pdf"

    mark = site.mark()
    versions = store.versions()
    again = ingestctl("ingest", "--source", "docs", "--json", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["processed"] == 0
    asked = [r for r in page_requests(site, mark) if r.path not in REDIRECTS]
    assert asked and [r for r in asked if not (r.conditional and r.status == 304) and r.status != 404] == []
    assert sum(r.bytes for r in asked if r.status != 404) == 0, "no page downloaded again"
    assert store.versions() == versions, "nothing written, nothing embedded"

    site.set_page("/docs/faq.html", "<html><head><title>FAQ</title></head><body><p>Lockers are free.</p></body></html>")
    edited = json.loads(ingestctl("ingest", "--source", "docs", "--json", env=env, cwd=tmp_path).stdout)
    assert edited["processed"] == 1 and edited["fully_ingested"] == len(site_documents())
    hits = json.loads(ingestctl("search", "lockers free", "--source", "docs", "--json", env=env, cwd=tmp_path).stdout)
    assert hits[0]["doc_id"] == "docs:faq.html"

    site.delete("/docs/sitemap-only.html")
    gone = json.loads(ingestctl("ingest", "--source", "docs", "--json", env=env, cwd=tmp_path).stdout)
    assert gone["purged"] == ["docs:sitemap-only.html"]
    assert "docs:sitemap-only.html" not in rows_by_source(store)["chunks"]

    site.fail_all(500, spared=("/robots.txt", "/docs/"))
    site.delete("/docs/faq.html")
    held = ingestctl("ingest", "--source", "docs", "--json", env=env, cwd=tmp_path)
    assert held.returncode == 2, held.stderr
    line = json.loads(held.stdout)["held_deletions"]
    assert "docs:faq.html" in line and "the listing is incomplete" in line and "500" in line
    assert "docs:faq.html" in rows_by_source(store)["embeddings"], "a page gone while the sitemaps fail is kept"

    site.fail_all(None)
    released = json.loads(ingestctl("ingest", "--source", "docs", "--json", env=env, cwd=tmp_path).stdout)
    assert released["purged"] == ["docs:faq.html"] and released["held_deletions"] is None
    mark = site.mark()
    report = json.loads(ingestctl("report", "--json", "--refresh", env=env, cwd=tmp_path).stdout)
    assert page_requests(site, mark) == [], "the report's checks do not crawl the site"
    orphans = next(check for check in report["checks"] if check["name"] == "orphans")
    assert orphans["sources_not_listed"] == ["docs"] and "sites not crawled for this check: docs" in orphans["summary"]
    assert set(report["sources"]) == {"default", "handbook", "reports", "docs"}
    assert all(check["passed"] for check in report["checks"]), report["checks"]


def test_sensors_and_nightly_schedules_of_three_kinds_of_source(
    instance, store, inbox, tmp_path, site, s3_server, monkeypatch
):
    monkeypatch.setenv("INGEST_DEBOUNCE_S", "0")
    handbook = tmp_path / "handbook"
    handbook.mkdir()
    (handbook / "desks.md").write_text("# Desks\n\nHot desks are booked a day ahead.\n")
    bucket = s3_server.create_bucket()
    s3_server.put(bucket, "annual.md", b"# Annual report\n\nTwelve new harbour cranes were commissioned.\n")
    s3_server.put(bucket, "monthly.md", b"# Monthly report\n\nThe night ferry ran on time all month.\n")
    for name, value in s3_server.env().items():
        monkeypatch.setenv(f"REPORTS_{name}", value)
    sources = write_sources(
        tmp_path / "sources.yaml",
        {
            "handbook": {"location": str(handbook)},
            "reports": {"location": f"s3://{bucket}/", "aws_env_prefix": "REPORTS_"},
            "docs": {"location": site.url("/docs/"), **SITE},
        },
    )
    monkeypatch.setenv("INGEST_SOURCES_FILE", str(sources))
    monkeypatch.setenv("INGEST_WEB_ALLOWED_PRIVATE_HOSTS", "127.0.0.1")
    definitions = current_definitions()
    resources = {
        "source": DocumentSource(suffixes=supported_suffixes(), root_dir=str(inbox)),
        "lancedb": store,
        "chunker": ChunkerConfig(),
        "embedder": EmbeddingModel(),
    }
    settings = IngestSettings.from_env().literal()
    for name in ("handbook", "reports", "docs"):
        resources[f"{name}_source"] = settings.document_source(supported_suffixes(), name)

    ingested: set[str] = set()
    for name in ("handbook", "reports", "docs"):
        context = dg.build_sensor_context(instance=instance, resources=resources)
        result = definitions.resolve_sensor_def(f"{name}_sensor")(context)
        apply_partition_requests(instance, result)
        assert {r.job_name for r in result.run_requests} == {f"{name}_ingest_job"}
        assert all(execute_request(instance, r).success for r in result.run_requests)
        ingested |= set(instance.get_dynamic_partitions(f"{name}__documents"))
    assert ingested == {"handbook:desks.md", "reports:annual.md", "reports:monthly.md"} | site_documents()
    assert set(rows_by_source(store)["embeddings"]) == ingested
    assert all(rows_by_source(store)[table] == rows_by_source(store)["embeddings"] for table in TABLES)

    schedule = dg.build_schedule_context(instance=instance, resources=resources)
    for name in ("handbook", "reports", "docs"):
        nightly = definitions.resolve_schedule_def(f"{name}_nightly_backfill")(schedule)
        assert isinstance(nightly, dg.SkipReason), nightly
    site.delete("/docs/faq.html")
    s3_server.client().delete_object(Bucket=bucket, Key="annual.md")
    purges = definitions.resolve_schedule_def("nightly_purge")(schedule)
    configs = sorted((r.run_config["ops"]["purge_documents"]["config"] for r in purges), key=lambda c: c["source"])
    assert configs == [
        {"doc_ids": ["docs:faq.html"], "source": "docs"},
        {"doc_ids": ["reports:annual.md"], "source": "reports"},
    ]
    assert all(execute_request(instance, r).success for r in purges)
    remaining = set(rows_by_source(store)["documents"])
    assert "docs:faq.html" not in remaining and "reports:annual.md" not in remaining
    assert "handbook:desks.md" in remaining


def test_ingestctl_ingest_url_outside_every_source(tmp_path, site):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    env = cli_env(tmp_path, inbox, INGEST_WEB_ALLOWED_PRIVATE_HOSTS="127.0.0.1", INGEST_WEB_REQUESTS_PER_SECOND="500")
    env["INGEST_WEB_MAX_DEPTH"] = str(CHAIN + 2)
    done = ingestctl("ingest", site.url("/docs/guide/"), "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["source"] == site.url("/docs/guide/") and summary["source_name"] == "default"
    store = LanceDBStore(uri=env["LANCEDB_URI"])
    stored = set(rows_by_source(store)["embeddings"])
    assert {"index.html", "intro"} <= stored and all(":" not in doc_id for doc_id in stored)

    (tmp_path / "other").mkdir()
    refused = cli_env(tmp_path / "other", inbox)
    denied = ingestctl("ingest", site.url("/docs/"), env=refused, cwd=tmp_path)
    assert denied.returncode == 2 and "INGEST_WEB_ALLOWED_PRIVATE_HOSTS" in denied.stderr
