"""Vector and hybrid (vector + full-text, fused with reciprocal rank) search over `embeddings`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import EMBEDDINGS, LanceDBStore
from resources.tables import DEFAULT_SOURCE


@dataclass(frozen=True)
class Hit:
    score: float
    doc_id: str
    page_start: int
    page_end: int
    chunk_id: str
    text: str
    section: str = ""
    source: str = DEFAULT_SOURCE

    def snippet(self, width: int = 160) -> str:
        flat = " ".join(self.text.split())
        return flat if len(flat) <= width else flat[: width - 1] + "…"

    def to_dict(self) -> dict:
        return asdict(self)


class SearchUnavailable(RuntimeError):
    pass


def search(
    store: LanceDBStore,
    model: EmbeddingModel,
    query: str,
    k: int = 5,
    hybrid: bool = False,
    source: str | None = None,
) -> list[Hit]:
    """Top-k chunks for `query`, of every source or of `source`. Vector scores are cosine similarity; hybrid
    (vector + full-text BM25, fused by reciprocal rank) scores are RRF."""
    if not store.count_rows(EMBEDDINGS):
        raise SearchUnavailable(f"no embeddings in {store.uri}: ingest documents first")
    rows = store.search_embeddings(model.encode([query])[0], k, query if hybrid else None, source)
    return [
        Hit(
            round(float(row["score"]), 4),
            row["doc_id"],
            row["page_start"],
            row["page_end"],
            row["chunk_id"],
            row["text"],
            row.get("section") or "",
            row.get("source") or DEFAULT_SOURCE,
        )
        for row in rows
    ]
