"""Search modes, the document-aware default, `--documents` and the source filter, on a real store and the real model."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pytest

from ingestion_assets.search import (
    DEFAULT_SEARCH_MODE,
    SEARCH_MODES,
    DocumentHit,
    search,
    search_documents,
    search_mode,
)
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import LanceDBStore
from resources.tables import CHUNKS, DOCUMENTS, EMBEDDINGS
from tests.conftest import ingested_folder

HANDBOOK = "kiln-handbook.md"
TOOL = "kilnwatch/README.md"
OTHER_SOURCE = "archive"

FILES = {
    HANDBOOK: """# Studio Kiln Handbook

How the ceramics studio fires its electric kilns: schedules, cones, loading and safety. Every member who
fires a kiln reads this handbook first.

## Bisque firing

The first firing turns dry greenware into bisque. Fire slowly to 600 °C at 80 °C per hour so that water
and organic matter leave the clay without cracking it, then at full speed to cone 04. A bisque firing
takes about ten hours and the kiln needs another day to cool.

## Glaze firing

Glazed pots are fired a second time. Stoneware glazes mature at cone 6, about 1220 °C; earthenware glazes
at cone 05. Hold the top temperature for ten minutes so that the glaze smooths out, then let the kiln
cool with the lid closed.

## Pyrometric cones

Cones measure heat work, not temperature alone: a cone bends when the firing has delivered enough heat
over time. Put a cone pack of three cones in front of the spy hole for every firing and check it
at the end of the firing.

## Loading the kiln

Load shelves with at least two centimetres between pots, and never let glazed surfaces touch each other
or the shelf. Heavy pots go on the bottom shelf, where the kiln heats most evenly during the firing.

## Firing schedules on the controller

The kiln controller stores up to six firing schedules. Each segment has a rate in degrees per hour, a
target temperature and a hold time. Check the schedule before starting a firing; a wrong rate cracks pots.

## Cooling and unloading

Never open a kiln above 100 °C: thermal shock cracks pots and shelves. A full kiln cools in about a day
after a glaze firing. Unload with gloves; shelves stay hot long after the pots.

## Elements and thermocouples

Heating elements wear out after a few hundred firings and the kiln then heats more slowly. A
thermocouple measures the temperature inside the kiln for the controller; replace it when firings end
at the wrong cone.

## Safety

Kilns vent fumes during every firing, so the extraction fan must run. Keep the kiln room clear of paper
and fabric, and never leave a firing unattended for its first hour.
""",
    TOOL: """# kilnwatch

kilnwatch is a small program that reads the thermocouple of an electric kiln and sends a text message to
your phone when a firing is finished or when the temperature stops rising.

## Installation

Install it on a Raspberry Pi next to the kiln with `pip install kilnwatch` and connect the thermocouple
amplifier to the GPIO pins.

## Configuration

Set the phone number and the SMS gateway in `/etc/kilnwatch.toml`. The `stall_minutes` setting says how
long the temperature may stay flat before kilnwatch sends a warning.
""",
    "sourdough.md": """# Sourdough notes

Feed the starter twice a day with equal weights of flour and water, and bake when it has doubled.

## Baking

Bake the loaf in a covered pot at 250 °C for twenty minutes, then uncovered until the crust is dark.
""",
}


@dataclass(frozen=True)
class Corpus:
    store: LanceDBStore
    model: EmbeddingModel


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Iterator[Corpus]:
    """A kiln handbook whose many sections share the words of the questions, the README of a kiln tool, and an
    unrelated note, ingested once for the module."""
    work = tmp_path_factory.mktemp("search")
    inbox = work / "inbox"
    for name, text in FILES.items():
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_text(text)
    with ingested_folder(inbox, work) as uri:
        yield Corpus(LanceDBStore(uri=uri), EmbeddingModel())


def copy_to_source(store: LanceDBStore, doc_id: str, source: str) -> None:
    """The rows of `doc_id` in every table, stored again as the same document of `source`."""
    from lancedb.expr import col

    copy = f"{source}:{doc_id}"
    for name in (DOCUMENTS, CHUNKS, EMBEDDINGS):
        rows = store.read(name, where=col("doc_id") == doc_id)
        columns = {c: rows.column(c) for c in rows.column_names}
        columns["doc_id"] = pa.array([copy] * rows.num_rows, rows.schema.field("doc_id").type)
        columns["source"] = pa.array([source] * rows.num_rows, rows.schema.field("source").type)
        if "chunk_id" in columns:
            ids = [f"{source}-{chunk_id}" for chunk_id in rows.column("chunk_id").to_pylist()]
            columns["chunk_id"] = pa.array(ids, rows.schema.field("chunk_id").type)
        store.replace_documents_rows(name, pa.table(columns, schema=rows.schema), [copy])


def ingestctl(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`ingestctl ARGS` in this process: exit code, stdout, stderr."""
    from ingestctl.cli import main

    capsys.readouterr()
    try:
        code = main(list(args))
    finally:
        gc.enable()
    out, err = capsys.readouterr()
    return code, out, err


def docs(hits: list) -> list[str]:
    return [hit.doc_id for hit in hits]


def test_search_and_ingestctl_search_default_to_the_same_mode(corpus, capsys):
    assert DEFAULT_SEARCH_MODE == "ranked" and set(SEARCH_MODES) >= {"vector", "hybrid", "ranked"}
    assert search_mode(None) == DEFAULT_SEARCH_MODE
    assert search_mode(None, hybrid=True) == "hybrid" and search_mode(None, hybrid=False) == "vector"
    with pytest.raises(ValueError, match="contradicts"):
        search_mode("vector", hybrid=True)
    with pytest.raises(ValueError, match="unknown search mode"):
        search_mode("bm25")

    query = "kiln firing temperature and cooling"
    by_mode = {
        mode: [h.to_dict() for h in search(corpus.store, corpus.model, query, 6, mode=mode)] for mode in SEARCH_MODES
    }
    assert [h.to_dict() for h in search(corpus.store, corpus.model, query, 6)] == by_mode[DEFAULT_SEARCH_MODE]
    assert [h.to_dict() for h in search(corpus.store, corpus.model, query, 6, True)] == by_mode["hybrid"]
    assert by_mode["ranked"] != by_mode["hybrid"] != by_mode["vector"]

    for flags, mode in (((), DEFAULT_SEARCH_MODE), (("--vector",), "vector"), (("--hybrid",), "hybrid")):
        for args in (flags, ("--mode", mode)):
            code, out, _ = ingestctl(capsys, "search", query, "-k", "6", "--json", *args)
            assert code == 0 and json.loads(out) == by_mode[mode], args
    code, _, err = ingestctl(capsys, "search", query, "--mode", "bm25")
    assert code == 2 and "no search mode 'bm25'" in err
    with pytest.raises(SystemExit):
        ingestctl(capsys, "search", query, "--mode", "vector", "--hybrid")

    code, out, _ = ingestctl(capsys, "search", query, "-k", "3")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith(" 1. ") and HANDBOOK in lines[0] and "§ Cooling and unloading" in lines[0]
    for hit in search(corpus.store, corpus.model, query, 6, mode="vector"):
        assert hit.similarity == pytest.approx(hit.score, abs=1e-3)


def test_many_passages_of_one_document_do_not_bury_the_next_document(corpus):
    query = "kiln temperature during a firing"
    by_similarity = search(corpus.store, corpus.model, query, 10, mode="vector")
    assert docs(by_similarity)[:5] == [HANDBOOK] * 5 and TOOL in docs(by_similarity)

    ranked = search(corpus.store, corpus.model, query, 5)
    assert ranked[0].doc_id == HANDBOOK and TOOL in docs(ranked[:3])
    assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)


def test_the_document_that_answers_comes_first_and_passages_stay_on_top(corpus):
    for query in ("monitor kiln thermocouple temperature during firing", "kiln thermocouple"):
        assert search(corpus.store, corpus.model, query, 5, mode="hybrid")[0].doc_id == HANDBOOK
        assert search(corpus.store, corpus.model, query, 5)[0].doc_id == TOOL, query
    for query, section in (
        ("which cone do stoneware glazes mature at", "Glaze firing"),
        ("how long must the kiln cool before unloading", "Cooling and unloading"),
    ):
        first = search(corpus.store, corpus.model, query, 5)[0]
        assert (first.doc_id, first.section) == (HANDBOOK, section)


def test_documents_view_lists_the_best_documents_with_their_best_passages(corpus, capsys):
    query = "a tool that texts my phone when the kiln firing is done"
    found = search_documents(corpus.store, corpus.model, query, k=2, passages=2)
    assert [d.doc_id for d in found] == [TOOL, HANDBOOK]
    assert [d.title for d in found] == ["kilnwatch", "Studio Kiln Handbook"]
    assert found[0].score >= found[1].score
    for doc in found:
        assert isinstance(doc, DocumentHit) and 1 <= len(doc.passages) <= 2
        assert {p.doc_id for p in doc.passages} == {doc.doc_id}
        assert [p.score for p in doc.passages] == sorted((p.score for p in doc.passages), reverse=True)
    assert found[0].passages[0].section == "" and "sends a text message" in found[0].passages[0].text
    for mode in SEARCH_MODES:
        listed = search_documents(corpus.store, corpus.model, query, k=3, passages=3, mode=mode)
        assert listed[0].doc_id == TOOL and len({d.doc_id for d in listed}) == len(listed) == 3

    code, out, _ = ingestctl(capsys, "search", query, "--documents", "-k", "2", "--passages", "2", "--json")
    assert code == 0 and json.loads(out) == [d.to_dict() for d in found]
    assert set(json.loads(out)[0]) == {"score", "doc_id", "title", "source", "sections", "passages"}
    assert json.loads(out)[0]["sections"] == found[0].sections
    code, out, _ = ingestctl(capsys, "search", query, "--documents", "-k", "2", "--passages", "2")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith(" 1. ") and lines[0].endswith(f"{TOOL}  kilnwatch")
    assert lines[1].strip() == "p.1" and "§ " in lines[3] and lines[5].startswith(" 2. ")


def test_the_source_filter_applies_in_every_mode(corpus):
    query = "kiln thermocouple"
    copy = f"{OTHER_SOURCE}:{TOOL}"
    copy_to_source(corpus.store, TOOL, OTHER_SOURCE)
    try:
        assert_filtered(corpus, query, copy)
    finally:
        corpus.store.delete_documents([copy])


def assert_filtered(corpus: Corpus, query: str, copy: str) -> None:
    for mode in SEARCH_MODES:
        everywhere = search(corpus.store, corpus.model, query, 10, mode=mode)
        assert {TOOL, copy, HANDBOOK} <= set(docs(everywhere)), mode
        only = search(corpus.store, corpus.model, query, 10, source=OTHER_SOURCE, mode=mode)
        assert only and set(docs(only)) == {copy} and {h.source for h in only} == {OTHER_SOURCE}, mode
        default = search(corpus.store, corpus.model, query, 10, source="default", mode=mode)
        assert copy not in docs(default) and {h.source for h in default} == {"default"}, mode
        assert not search(corpus.store, corpus.model, query, 10, source="nowhere", mode=mode)
        listed = search_documents(corpus.store, corpus.model, query, 5, source=OTHER_SOURCE, mode=mode)
        assert [(d.doc_id, d.source, d.title) for d in listed] == [(copy, OTHER_SOURCE, "kilnwatch")], mode


def test_search_of_an_empty_store_is_unavailable(tmp_path):
    from ingestion_assets.search import SearchUnavailable

    store = LanceDBStore(uri=str(tmp_path / "empty"))
    for mode in SEARCH_MODES:
        with pytest.raises(SearchUnavailable):
            search(store, EmbeddingModel(), "anything", mode=mode)
        with pytest.raises(SearchUnavailable):
            search_documents(store, EmbeddingModel(), "anything", mode=mode)
