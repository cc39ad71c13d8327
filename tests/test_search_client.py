"""`SearchClient` on a store ingested from `samples/` with the real model: no Dagster, the CLI's answers, one model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
import yaml

from ingestion_assets.client import SearchClient
from ingestion_assets.search import DEFAULT_SEARCH_MODE, SEARCH_MODES, search, search_documents
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import LanceDBStore
from tests.conftest import REPO, SAMPLES, ingested_folder
from tests.test_search import copy_to_source, ingestctl

QUERIES = [entry["query"] for entry in yaml.safe_load((SAMPLES / "queries.yaml").read_text())]
OTHER_SOURCE = "archive"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Iterator[str]:
    """The sample documents, ingested once for the module; the store's URI (the environment points at it: an
    application's and `ingestctl`'s)."""
    work = tmp_path_factory.mktemp("client")
    shutil.copytree(SAMPLES, work / "inbox")
    with ingested_folder(work / "inbox", work) as uri:
        yield uri


@pytest.fixture(scope="module")
def client(ingested) -> Iterator[SearchClient]:
    with SearchClient(ingested) as opened:
        yield opened


def test_importing_and_using_the_client_never_imports_dagster(ingested):
    program = (
        "import sys\n"
        "from ingestion_assets.client import SearchClient\n"
        "assert 'dagster' not in sys.modules\n"
        "with SearchClient() as client:\n"
        "    hits = client.search(sys.argv[1])\n"
        "    found = client.documents(sys.argv[1], 2)\n"
        "print(len(hits), len(found), 'dagster' in sys.modules)\n"
    )
    env = {**os.environ, "LANCEDB_URI": ingested}
    done = subprocess.run(
        [sys.executable, "-c", program, QUERIES[0]], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["5", "2", "False"]


def test_the_client_answers_as_search_does_in_every_mode(ingested, client):
    store, model = LanceDBStore(uri=ingested), EmbeddingModel()
    for query in QUERIES:
        assert client.search(query) == search(store, model, query), query
        for mode in SEARCH_MODES:
            assert client.search(query, 4, mode) == search(store, model, query, 4, mode=mode), (query, mode)
        assert client.documents(query, 3, 2) == search_documents(store, model, query, 3, 2), query


def test_the_client_defaults_to_the_mode_and_results_of_ingestctl_search(client, capsys):
    assert client.search(QUERIES[1], 6) == client.search(QUERIES[1], 6, DEFAULT_SEARCH_MODE)
    for query in QUERIES[:3]:
        code, out, _ = ingestctl(capsys, "search", query, "-k", "6", "--json")
        assert code == 0 and json.loads(out) == [hit.to_dict() for hit in client.search(query, 6)], query
        code, out, _ = ingestctl(capsys, "search", query, "--documents", "-k", "3", "--json")
        assert code == 0 and json.loads(out) == [doc.to_dict() for doc in client.documents(query, 3)], query


def test_results_are_typed_passages_and_documents_the_sample_queries_expect(client):
    for entry in yaml.safe_load((SAMPLES / "queries.yaml").read_text()):
        best = client.documents(entry["query"], 1)[0]
        assert best.doc_id == entry["expected_doc"], entry["query"]
        assert best.title and best.passages and best.passages[0].doc_id == best.doc_id
        hit = client.search(entry["query"], 1)[0]
        assert hit.text.strip() and hit.score > 0 and 0 < (hit.similarity or 0) <= 1
        assert 1 <= hit.page_start <= hit.page_end
        assert hit.pages == (
            f"p.{hit.page_start}" if hit.page_start == hit.page_end else f"pp.{hit.page_start}-{hit.page_end}"
        )


def test_many_questions_reuse_one_connection_and_one_model(client):
    encoder, connection = client.encoder, client.tables.connect()
    for query in QUERIES * 4:
        assert client.search(query, 3)
    assert client.encoder is encoder and client.tables.connect() is connection


def test_the_source_filter_keeps_one_sources_results(ingested, client):
    query = QUERIES[0]
    expected = client.documents(query, 1)[0].doc_id
    copy_to_source(LanceDBStore(uri=ingested), expected, OTHER_SOURCE)
    for mode in SEARCH_MODES:
        only = client.search(query, 5, mode, source=OTHER_SOURCE)
        assert only and {(h.doc_id, h.source) for h in only} == {(f"{OTHER_SOURCE}:{expected}", OTHER_SOURCE)}, mode
        assert {h.source for h in client.search(query, 10, mode, source="default")} == {"default"}, mode
        assert client.search(query, 5, mode, source="nowhere") == [], mode
    listed = client.documents(query, 3, source=OTHER_SOURCE)
    assert [(d.doc_id, d.source) for d in listed] == [(f"{OTHER_SOURCE}:{expected}", OTHER_SOURCE)]


def test_close_releases_the_model_and_refuses_further_questions(ingested):
    with SearchClient(ingested) as client:
        assert client.search(QUERIES[0], 1)
    assert client.closed and "closed" in repr(client)
    with pytest.raises(RuntimeError, match="closed"):
        client.search(QUERIES[0])
    with pytest.raises(RuntimeError, match="closed"):
        client.documents(QUERIES[0])
