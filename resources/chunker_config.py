"""How documents are cut into chunks (`chunks` phase): the `chunker` resource."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from resources.embedding_model import EmbeddingModel


class ChunkerConfig(dg.ConfigurableResource):
    """Chunk size and overlap in the embedding model's own tokens (`INGEST_CHUNK_TOKENS`,
    `INGEST_CHUNK_OVERLAP`); the context header of a chunk counts in its size."""

    chunk_tokens: int = 200
    chunk_overlap: int = 30

    def resolved(self, embedder: EmbeddingModel) -> ChunkerConfig:
        """These sizes, or those that run config still sets on the `embedder` resource (where they were
        configured before the `chunker` resource existed)."""
        legacy = {
            name: value for name in ("chunk_tokens", "chunk_overlap") if (value := getattr(embedder, name)) is not None
        }
        return self.model_copy(update=legacy) if legacy else self
