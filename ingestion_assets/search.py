"""Search over `embeddings`: ranked by document (the default), hybrid or vector; and the best documents with their passages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from resources.tables import CHUNKS, DEFAULT_SOURCE, DOCUMENTS, EMBEDDINGS

if TYPE_CHECKING:
    import numpy as np

    from resources.lancedb_tables import LanceDBTables

SEARCH_MODES = ("vector", "hybrid", "ranked")
"""The searches `search()` runs (its `mode`):

- `vector`: cosine similarity of the query and each passage;
- `hybrid`: vector and full-text (BM25) search fused by LanceDB's reciprocal-rank reranker;
- `ranked`: document-aware, see `Ranking`."""
DEFAULT_SEARCH_MODE = "ranked"
"""The mode of `search()`, `search_documents()` and `ingestctl search` when none is asked for."""


class QueryEncoder(Protocol):
    """What search needs of a model: the `EmbeddingModel` resource, or the `Encoder` it loads."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-norm float32 vectors, one row per text."""
        ...


@dataclass(frozen=True)
class Ranking:
    """The weights of the `ranked` mode, chosen on the `tune` questions of `bench/retrieval.py` (never on `judge`).

    A passage's relevance is its cosine similarity to the query plus `full_text` times its BM25 score divided by
    the query's best BM25 score. A document's score is the relevance of its best passage plus `lead` times the
    cosine similarity of its lead passage (the first chunk: the title and opening, which say what the document
    is for). Passages are returned in the order of their document's score, less `within` times their gap to
    the best passage of their document, less `repeat` for each better passage of their document: a strong
    second passage of the best document stays ahead of weaker documents, many passages of one document do not
    bury the next one.
    """

    full_text: float = 0.3
    lead: float = 1.0
    within: float = 0.5
    repeat: float = 0.1
    depth: int = 40
    """Passages fetched by vector search and by full-text search each (at least `k`)."""


RANKING = Ranking()


@dataclass(frozen=True)
class Hit:
    """A passage found for a query. `score` orders the hits of one query (its scale depends on the mode: cosine
    similarity, RRF, or the ranked score); `similarity` is the cosine similarity of query and passage in every
    mode, comparable across queries (what thresholds should use)."""

    score: float
    doc_id: str
    page_start: int
    page_end: int
    chunk_id: str
    text: str
    section: str = ""
    source: str = DEFAULT_SOURCE
    similarity: float | None = None

    @property
    def pages(self) -> str:
        """Where the passage is: `p.3`, or `pp.3-5` when it spans pages."""
        return f"p.{self.page_start}" if self.page_start == self.page_end else f"pp.{self.page_start}-{self.page_end}"

    def snippet(self, width: int = 160) -> str:
        flat = " ".join(self.text.split())
        return flat if len(flat) <= width else flat[: width - 1] + "…"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DocumentHit:
    """A document found for a query, with its best passages (best first); `score` orders the documents of one
    query."""

    score: float
    doc_id: str
    title: str
    passages: tuple[Hit, ...]
    source: str = DEFAULT_SOURCE

    @property
    def sections(self) -> list[str]:
        """The sections of its passages, each once, in the passages' order."""
        return list(dict.fromkeys(p.section for p in self.passages if p.section))

    def to_dict(self) -> dict:
        return {
            "score": self.score,
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "sections": self.sections,
            "passages": [p.to_dict() for p in self.passages],
        }


class SearchUnavailable(RuntimeError):
    pass


def search(
    store: LanceDBTables,
    model: QueryEncoder,
    query: str,
    k: int = 5,
    hybrid: bool | None = None,
    source: str | None = None,
    mode: str | None = None,
    ranking: Ranking = RANKING,
) -> list[Hit]:
    """Top-k passages for `query`, of every source or of `source`, by `mode` (one of `SEARCH_MODES`; default
    `DEFAULT_SEARCH_MODE`). `hybrid` is the older way to ask: True for `hybrid`, False for `vector`."""
    mode = search_mode(mode, hybrid)
    vector = _query_vector(store, model, query)
    if mode == "ranked":
        ranked = rank_candidates(fetch_candidates(store, vector, query, max(ranking.depth, k), source), ranking)
        return sorted((hit for doc in ranked for hit in doc.passages), key=lambda h: -h.score)[:k]
    rows = store.search_embeddings(vector, k, query if mode == "hybrid" else None, source)
    return [_hit(row, row["score"], _cosine(vector, row["vector"])) for row in rows]


def search_documents(
    store: LanceDBTables,
    model: QueryEncoder,
    query: str,
    k: int = 5,
    passages: int = 3,
    source: str | None = None,
    mode: str | None = None,
    ranking: Ranking = RANKING,
) -> list[DocumentHit]:
    """The `k` best documents for `query`, each with up to `passages` (at least one) of its best passages. In the
    `ranked` mode documents are ordered by their document score; in the others by their best passage."""
    mode, passages = search_mode(mode), max(1, passages)
    if mode == "ranked":
        vector = _query_vector(store, model, query)
        candidates = fetch_candidates(store, vector, query, max(ranking.depth, k * passages), source)
        found = [replace(doc, passages=doc.passages[:passages]) for doc in rank_candidates(candidates, ranking)[:k]]
    else:
        by_doc: dict[str, list[Hit]] = {}
        for hit in search(store, model, query, max(ranking.depth, 4 * k * passages), source=source, mode=mode):
            by_doc.setdefault(hit.doc_id, []).append(hit)
        found = [
            DocumentHit(hits[0].score, doc_id, "", tuple(hits[:passages]), hits[0].source)
            for doc_id, hits in list(by_doc.items())[:k]
        ]
    titles = _titles(store, [doc.doc_id for doc in found])
    return [replace(doc, title=titles.get(doc.doc_id, "")) for doc in found]


def search_mode(mode: str | None, hybrid: bool | None = None) -> str:
    """The mode that `mode` or the older `hybrid` flag ask for; ValueError for an unknown or contradictory one."""
    flagged = None if hybrid is None else ("hybrid" if hybrid else "vector")
    if mode is None:
        return flagged or DEFAULT_SEARCH_MODE
    if mode not in SEARCH_MODES:
        raise ValueError(f"unknown search mode {mode!r}; modes: {', '.join(SEARCH_MODES)}")
    if flagged is not None and flagged != mode:
        raise ValueError(f"hybrid={hybrid} contradicts mode={mode!r}")
    return mode


@dataclass(frozen=True)
class Candidates:
    """What the `ranked` mode ranks: the passages found by vector search and by full-text search, and what it
    knows of each (every weight of `Ranking` applies to these, so one fetch serves any weights)."""

    rows: dict[str, dict[str, Any]]
    """Each passage's `embeddings` row, by chunk id."""
    similarity: dict[str, float]
    """Cosine similarity of the query and each passage."""
    bm25: dict[str, float]
    """BM25 score of the passages full-text search found, divided by the best one."""
    leads: dict[str, float]
    """Cosine similarity of the query and the lead passage of each document of the passages."""


def fetch_candidates(
    store: LanceDBTables, vector: np.ndarray, query: str, depth: int, source: str | None = None
) -> Candidates:
    """The `depth` nearest passages and the `depth` best by full text, of every source or of `source`."""
    by_vector = store.search_embeddings(vector, depth, None, source)
    by_text = store.search_embeddings(None, depth, query, source)
    rows = {row["chunk_id"]: row for row in [*by_vector, *by_text]}
    best = max((row["score"] for row in by_text), default=0.0)
    return Candidates(
        rows,
        {chunk_id: _cosine(vector, row["vector"]) for chunk_id, row in rows.items()},
        {row["chunk_id"]: row["score"] / best for row in by_text if best > 0},
        _lead_similarities(store, vector, list(dict.fromkeys(row["doc_id"] for row in rows.values()))),
    )


def rank_candidates(candidates: Candidates, ranking: Ranking = RANKING) -> list[DocumentHit]:
    """The candidate documents best first (without their titles), each with its candidate passages in ranked
    order (`Ranking`)."""
    relevance = {
        chunk_id: similarity + ranking.full_text * candidates.bm25.get(chunk_id, 0.0)
        for chunk_id, similarity in candidates.similarity.items()
    }
    by_doc: dict[str, list[str]] = {}
    for chunk_id in sorted(relevance, key=lambda c: -relevance[c]):
        by_doc.setdefault(candidates.rows[chunk_id]["doc_id"], []).append(chunk_id)
    docs = []
    for doc_id, chunk_ids in by_doc.items():
        best = relevance[chunk_ids[0]]
        score = best + ranking.lead * candidates.leads.get(doc_id, 0.0)
        passages = tuple(
            _hit(
                candidates.rows[chunk_id],
                score - ranking.within * (best - relevance[chunk_id]) - ranking.repeat * rank,
                candidates.similarity[chunk_id],
            )
            for rank, chunk_id in enumerate(chunk_ids)
        )
        docs.append(DocumentHit(round(score, 4), doc_id, "", passages, passages[0].source))
    return sorted(docs, key=lambda doc: -doc.score)


def _lead_similarities(store: LanceDBTables, vector: np.ndarray, doc_ids: Sequence[str]) -> dict[str, float]:
    """The cosine similarity of the query and the lead passage (the first chunk) of each of `doc_ids`."""
    if not doc_ids:
        return {}
    from lancedb.expr import col

    leads = store.read(CHUNKS, ["chunk_id"], col("doc_id").isin(list(doc_ids)) & (col("seq") == 0))
    if not leads.num_rows:
        return {}
    rows = store.read(EMBEDDINGS, ["doc_id", "vector"], col("chunk_id").isin(leads.column("chunk_id").to_pylist()))
    return {
        doc_id: _cosine(vector, lead)
        for doc_id, lead in zip(rows.column("doc_id").to_pylist(), rows.column("vector").to_pylist(), strict=True)
    }


def _titles(store: LanceDBTables, doc_ids: Sequence[str]) -> dict[str, str]:
    if not doc_ids:
        return {}
    from lancedb.expr import col

    rows = store.read(DOCUMENTS, ["doc_id", "title"], col("doc_id").isin(list(doc_ids)))
    return {
        doc_id: title or ""
        for doc_id, title in zip(rows.column("doc_id").to_pylist(), rows.column("title").to_pylist(), strict=True)
    }


def _query_vector(store: LanceDBTables, model: QueryEncoder, query: str) -> np.ndarray:
    if not store.count_rows(EMBEDDINGS):
        raise SearchUnavailable(f"no embeddings in {store.uri}: ingest documents first")
    return model.encode([query])[0]


def _cosine(a: Any, b: Any) -> float:
    import numpy as np

    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norms if norms else 0.0


def _hit(row: dict[str, Any], score: float, similarity: float) -> Hit:
    return Hit(
        round(float(score), 4),
        row["doc_id"],
        row["page_start"],
        row["page_end"],
        row["chunk_id"],
        row["text"],
        row.get("section") or "",
        row.get("source") or DEFAULT_SOURCE,
        round(similarity, 4),
    )
