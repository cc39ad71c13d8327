"""Split document text into chunks sized in the embedding model's own tokens (the `chunks` phase)."""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer

SPLITTER_VERSION = "recursive-2"


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    seq: int
    text: str
    text_hash: str
    page_start: int
    page_end: int
    char_start: int
    char_end: int
    token_count: int


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chunk_id_for(doc_id: str, seq: int, text: str) -> str:
    """Deterministic id from the document, the chunk's position and its text."""
    digest = hashlib.sha256(f"{doc_id}\x00{seq}\x00{text}".encode())
    return digest.hexdigest()[:32]


def chunker_version(tokenizer_id: str, chunk_tokens: int, overlap_tokens: int) -> str:
    return f"{SPLITTER_VERSION}:{tokenizer_id}:{chunk_tokens}/{overlap_tokens}"


def tokenizer_fingerprint(model_dir: Path) -> str:
    """Identifies the tokenizer (and length limit) chunks were sized with, independent of the
    model's weights: a new model with the same tokenizer does not make chunks stale."""
    digest = hashlib.sha256()
    for name in ("tokenizer.json", "sentence_bert_config.json"):
        path = model_dir / name
        if path.exists():
            digest.update(path.read_bytes())
    return "tok-" + digest.hexdigest()[:12]


class TokenChunker:
    """langchain's recursive splitter with lengths counted by the model tokenizer.

    Token counts include the model's special tokens, so a chunk of `chunk_tokens` or fewer is
    never truncated by a model whose `max_seq_length` is at least that.
    """

    def __init__(self, tokenizer: Tokenizer, chunk_tokens: int, overlap_tokens: int, max_seq_length: int):
        if chunk_tokens > max_seq_length:
            raise ValueError(
                f"chunk size {chunk_tokens} tokens exceeds the model's max_seq_length {max_seq_length}; "
                "the model would silently truncate every chunk"
            )
        if not 0 <= overlap_tokens < chunk_tokens:
            raise ValueError(f"chunk overlap {overlap_tokens} must be >= 0 and below the chunk size {chunk_tokens}")
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.tokenizer = tokenizer
        self.chunk_tokens = chunk_tokens
        self.special_tokens = len(tokenizer.encode("").ids)
        self.budget = chunk_tokens - self.special_tokens
        self.splitter = RecursiveCharacterTextSplitter(
            chunk_size=self.budget,
            chunk_overlap=min(overlap_tokens, self.budget - 1),
            length_function=self.count_content_tokens,
            add_start_index=True,
            strip_whitespace=True,
        )

    def count_tokens(self, text: str) -> int:
        """Model input length of `text`, special tokens included."""
        return len(self.tokenizer.encode(text).ids)

    def count_content_tokens(self, text: str) -> int:
        """Tokens of `text` alone: the splitter adds up pieces, so special tokens must not count per piece."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def split(self, doc_id: str, text: str, page_offsets: list[int]) -> list[Chunk]:
        chunks: list[Chunk] = []
        for piece in self.splitter.create_documents([text]):
            body = piece.page_content
            if not body.strip():
                continue
            start = int(piece.metadata.get("start_index", -1))
            if start < 0:
                start = text.find(body)
            for part_start, part in self._enforce_limit(start, body):
                seq = len(chunks)
                end = part_start + len(part)
                chunks.append(
                    Chunk(
                        chunk_id=chunk_id_for(doc_id, seq, part),
                        seq=seq,
                        text=part,
                        text_hash=text_hash(part),
                        page_start=_page_of(page_offsets, part_start),
                        page_end=_page_of(page_offsets, max(part_start, end - 1)),
                        char_start=part_start,
                        char_end=end,
                        token_count=self.count_tokens(part),
                    )
                )
        return chunks

    def _enforce_limit(self, start: int, body: str) -> list[tuple[int, str]]:
        """The splitter keeps an unsplittable piece whole; cut such a piece at token offsets."""
        encoding = self.tokenizer.encode(body, add_special_tokens=False)
        budget = self.budget
        if len(encoding.ids) <= budget:
            return [(start, body)]
        parts = []
        for i in range(0, len(encoding.offsets), budget):
            window = encoding.offsets[i : i + budget]
            lo, hi = window[0][0], window[-1][1]
            parts.append((start + lo, body[lo:hi]))
        return parts


def _page_of(page_offsets: list[int], char_index: int) -> int:
    """1-based page number holding a character offset."""
    if not page_offsets:
        return 1
    return max(1, bisect.bisect_right(page_offsets, char_index))
