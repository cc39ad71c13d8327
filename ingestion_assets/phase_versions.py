"""What each phase's output depends on (parser, chunker, model): code versions, and which stored rows are stale."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from resources.tables import CHUNKS, DOCUMENTS, EMBEDDINGS

if TYPE_CHECKING:
    from resources.chunker_config import ChunkerConfig
    from resources.embedding_model import EmbeddingModel
    from resources.lancedb_store import StoredVersions


@dataclass(frozen=True)
class PhaseVersions:
    """The versions stored with each phase's rows; a row made by another version is stale."""

    parser: str
    chunker: str
    model: str

    @classmethod
    def of(cls, chunker: ChunkerConfig, embedder: EmbeddingModel) -> PhaseVersions:
        """The versions the configured resources produce (tokenizer files are read here)."""
        from ingestion_assets.chunking import configured_chunker_version
        from ingestion_assets.parsing import PARSER_VERSION

        return cls(PARSER_VERSION, configured_chunker_version(chunker, embedder), embedder.model_id)

    @property
    def code_versions(self) -> dict[str, str]:
        """The code version of each phase, by the table it writes."""
        return {DOCUMENTS: self.parser, CHUNKS: self.chunker, EMBEDDINGS: f"embed-1:{self.model}"}

    def stale_tables(self, stored: StoredVersions, doc_id: str) -> set[str]:
        """The tables whose stored rows of `doc_id` were produced by another parser, chunker or model."""
        stale = set()
        fingerprint = stored.fingerprints.get(doc_id)
        if fingerprint is not None and fingerprint.parser_version != self.parser:
            stale.add(DOCUMENTS)
        if stored.chunkers.get(doc_id, {self.chunker}) != {self.chunker}:
            stale.add(CHUNKS)
        if stored.models.get(doc_id, {self.model}) != {self.model}:
            stale.add(EMBEDDINGS)
        return stale
