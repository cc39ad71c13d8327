"""What each phase's output depends on (parser, chunker, model): code versions and staleness."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingestion_assets.keys import CHUNKS_KEY, DOCUMENTS_KEY, EMBEDDINGS_KEY

if TYPE_CHECKING:
    import dagster as dg

    from resources.embedding_model import EmbeddingModel


@dataclass(frozen=True)
class PhaseVersions:
    """The versions stored with each phase's rows; a row made by another version is stale."""

    parser: str
    chunker: str
    model: str

    @classmethod
    def of(cls, embedder: EmbeddingModel) -> PhaseVersions:
        """The versions the configured embedding resource produces (tokenizer files are read here)."""
        from ingestion_assets.parsing import PARSER_VERSION

        return cls(PARSER_VERSION, embedder.chunker_version, embedder.model_id)

    @property
    def code_versions(self) -> dict[dg.AssetKey, str]:
        return {DOCUMENTS_KEY: self.parser, CHUNKS_KEY: self.chunker, EMBEDDINGS_KEY: f"embed-1:{self.model}"}
