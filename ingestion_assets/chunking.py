"""Split document text into chunks sized in the embedding model's own tokens (the `chunks` phase).

Chunks follow the document's structure: each section (the text from one heading to the next) is
split on its own, so a chunk never straddles two sections, except that a heading with hardly any
text of its own ("3 Options" directly followed by "3.1 Transfer") travels with the next section.
Every chunk knows its section path ("3 Options › 3.2 Rounding") and carries a context header,
"document title › section path\\n\\n", meant to be embedded in front of its text: the header is
counted in the token budget, so `context + text` never exceeds `chunk_tokens` (a header that would
leave too little room for text is shortened, never the text).
"""

from __future__ import annotations

import bisect
import hashlib
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from resources.tables import ChunkRow, text_hash

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tokenizers import Tokenizer

    from resources.chunker_config import ChunkerConfig
    from resources.embedding_model import EmbeddingModel

SPLITTER_VERSION = "sections-3"
PATH_SEPARATOR = " › "
HEADER_END = "\n\n"


def chunk_id_for(doc_id: str, seq: int, text: str) -> str:
    """Deterministic id from the document, the chunk's position and its text."""
    digest = hashlib.sha256(f"{doc_id}\x00{seq}\x00{text}".encode())
    return digest.hexdigest()[:32]


def chunker_version(tokenizer_id: str, chunk_tokens: int, overlap_tokens: int) -> str:
    return f"{SPLITTER_VERSION}:{tokenizer_id}:{chunk_tokens}/{overlap_tokens}"


def configured_chunker_version(config: ChunkerConfig, embedder: EmbeddingModel) -> str:
    """The version of the chunks the configured `chunker` cuts with the `embedder`'s tokenizer."""
    config = config.resolved(embedder)
    return chunker_version(embedder.tokenizer_id, config.chunk_tokens, config.chunk_overlap)


class TokenChunker:
    """langchain's recursive splitter with lengths counted by the model tokenizer, run section by
    section.

    Token counts include the model's special tokens, so a chunk of `chunk_tokens` or fewer is
    never truncated by a model whose `max_seq_length` is at least that. `max_header_tokens` bounds
    the context header; the text of a chunk gets the rest of the budget.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        chunk_tokens: int,
        overlap_tokens: int,
        max_seq_length: int,
        version: str = "",
        max_header_tokens: int = 40,
        min_section_tokens: int = 8,
        min_preamble_tokens: int = 32,
    ):
        if chunk_tokens > max_seq_length:
            raise ValueError(
                f"chunk size {chunk_tokens} tokens exceeds the model's max_seq_length {max_seq_length}; "
                "the model would silently truncate every chunk"
            )
        if not 0 <= overlap_tokens < chunk_tokens:
            raise ValueError(f"chunk overlap {overlap_tokens} must be >= 0 and below the chunk size {chunk_tokens}")
        self.tokenizer = tokenizer
        self.version = version
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens
        self.special_tokens = len(tokenizer.encode("").ids)
        self.budget = chunk_tokens - self.special_tokens
        self.max_header_tokens = max(0, min(max_header_tokens, self.budget // 3))
        self.min_section_tokens = min_section_tokens
        self.min_preamble_tokens = min_preamble_tokens
        self._splitters: dict[int, object] = {}
        self._content_tokens: dict[str, int] = {}
        self.splitter = self._splitter(self.budget)

    @classmethod
    def configured(cls, config: ChunkerConfig, embedder: EmbeddingModel) -> TokenChunker:
        """The chunker of the `chunker` resource, counting in the `embedder`'s tokenizer."""
        sizes = config.resolved(embedder)
        return cls(
            embedder.tokenizer(),
            sizes.chunk_tokens,
            sizes.chunk_overlap,
            embedder.max_seq_length,
            version=configured_chunker_version(config, embedder),
        )

    def _splitter(self, budget: int):
        if budget not in self._splitters:
            from langchain_text_splitters import RecursiveCharacterTextSplitter

            self._splitters[budget] = RecursiveCharacterTextSplitter(
                chunk_size=budget,
                chunk_overlap=min(self.overlap_tokens, budget - 1),
                length_function=self.count_content_tokens,
                add_start_index=True,
                strip_whitespace=True,
            )
        return self._splitters[budget]

    def count_tokens(self, text: str) -> int:
        """Model input length of `text`, special tokens included."""
        return len(self.tokenizer.encode(text).ids)

    def count_content_tokens(self, text: str) -> int:
        """Tokens of `text` alone: the splitter adds up pieces, so special tokens must not count per piece.

        Remembered for the document being split: the splitter measures most pieces two or three times.
        """
        count = self._content_tokens.get(text)
        if count is None:
            count = self._content_tokens[text] = len(self.tokenizer.encode(text, add_special_tokens=False).ids)
        return count

    def split(
        self,
        doc_id: str,
        text: str,
        page_offsets: list[int],
        sections: Sequence[tuple[int, int, str]] | None = None,
        title: str | None = None,
    ) -> list[ChunkRow]:
        """Chunks of `text`, section by section.

        `sections` are (char_start, level, title) headings positioned in `text` (the parser's
        `ParsedDocument.sections`); when None they are read from the text's Markdown `#` lines
        (the parser writes headings that way), except for .txt files. `title` defaults to the
        first top-level heading, else the file name without its suffix.
        """
        from ingestion_assets.parsing import markdown_sections

        if sections is None:
            sections = markdown_sections(text, atx=PurePosixPath(doc_id).suffix.lower() != ".txt")
        sections = sorted((int(s[0]), int(s[1]), str(s[2])) for s in sections)
        if title is None:
            top = min((s[1] for s in sections), default=0)
            title = next((s[2] for s in sections if s[1] == top), "") or PurePosixPath(doc_id).stem
        chunks: list[ChunkRow] = []
        self._content_tokens.clear()
        for start, end, path in self._segments(text, sections, title):
            context, header_tokens = self._header(title, path)
            budget = self.budget - header_tokens
            body = text[start:end]
            for piece in self._splitter(budget).create_documents([body]):
                content = piece.page_content
                if not content.strip():
                    continue
                offset = int(piece.metadata.get("start_index", -1))
                if offset < 0:
                    offset = body.find(content)
                for part_start, part, tokens in self._enforce_limit(start + offset, content, budget):
                    seq = len(chunks)
                    part_end = part_start + len(part)
                    chunks.append(
                        ChunkRow(
                            chunk_id=chunk_id_for(doc_id, seq, part),
                            doc_id=doc_id,
                            seq=seq,
                            text=part,
                            text_hash=text_hash(part),
                            page_start=_page_of(page_offsets, part_start),
                            page_end=_page_of(page_offsets, max(part_start, part_end - 1)),
                            char_start=part_start,
                            char_end=part_end,
                            token_count=tokens,
                            chunker=self.version,
                            section=path,
                            context=self._fit(context, part),
                        )
                    )
        return chunks

    def _segments(self, text: str, sections: list[tuple[int, int, str]], title: str) -> list[tuple[int, int, str]]:
        """(start, end, section path) of each section's text. A section with fewer than
        `min_section_tokens` tokens besides its heading, or text before the first section heading
        (the title, a subtitle) shorter than `min_preamble_tokens`, is merged into the next one,
        whose path it takes."""
        bounds = sorted({s[0] for s in sections if 0 < s[0] < len(text)} | {0})
        by_start: dict[int, tuple[int, str]] = {}
        for start, level, heading in sections:
            by_start.setdefault(start, (level, heading))
        stack: list[tuple[int, str]] = []
        raw: list[tuple[int, int, str, bool]] = []  # start, end, path, small
        for i, start in enumerate(bounds):
            end = bounds[i + 1] if i + 1 < len(bounds) else len(text)
            heading_line = 0
            if start in by_start:
                level, heading = by_start[start]
                while stack and stack[-1][0] >= level:
                    stack.pop()
                stack.append((level, heading))
                newline = text.find("\n", start, end)
                heading_line = (newline if newline >= 0 else end) - start
            path = PATH_SEPARATOR.join(h for _, h in stack if h.casefold() != title.casefold())
            rest = self.count_content_tokens(text[start + heading_line : end])
            # a heading with hardly any text of its own ("3 Options" right before "3.1 Transfer"),
            # or a short preamble: the title with a subtitle, an HTML page's <title> line
            small = (bool(heading_line) and rest < self.min_section_tokens) or (
                not path and rest < self.min_preamble_tokens
            )
            raw.append((start, end, path, small))
        segments: list[tuple[int, int, str]] = []
        pending: int | None = None
        for start, end, path, small in raw:
            begin = start if pending is None else pending
            if small and end < len(text):
                pending = begin
                continue
            pending = None
            if text[begin:end].strip():
                segments.append((begin, end, path))
        return segments

    def _header(self, title: str, path: str) -> tuple[str, int]:
        """The context header and its token count: title › path, shortened to fit
        `max_header_tokens`: first the middle of the path goes, then title and deepest section
        are cut to share the room."""
        if self.max_header_tokens <= 0:
            return "", 0
        parts = [p for p in path.split(PATH_SEPARATOR) if p] if path else []
        candidates = [[title, *parts]]
        if len(parts) > 1:
            candidates.append([title, "…", parts[-1]])
        for names in candidates:
            header = PATH_SEPARATOR.join(n for n in names if n) + HEADER_END
            tokens = self.count_content_tokens(header)
            if tokens <= self.max_header_tokens:
                return header, tokens
        room = self.max_header_tokens - self.count_content_tokens(PATH_SEPARATOR + HEADER_END)
        if parts:
            last = self._cut(parts[-1], room // 2)
            names = [self._cut(title, room - self.count_content_tokens(last)), last]
        else:
            names = [self._cut(title, room)]
        header = PATH_SEPARATOR.join(n for n in names if n) + HEADER_END
        tokens = self.count_content_tokens(header)
        return (header, tokens) if names[0] and tokens <= self.max_header_tokens else ("", 0)

    def _cut(self, text: str, tokens: int) -> str:
        """`text` cut to at most `tokens` tokens, "…" included."""
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        if len(encoding.ids) <= tokens:
            return text
        keep = tokens - self.count_content_tokens("…")
        if keep <= 0:
            return ""
        return text[: encoding.offsets[keep - 1][1]].rstrip() + "…"

    def _fit(self, context: str, text: str) -> str:
        """Guard against tokenisation across the join: drop the header rather than exceed the budget."""
        if not context or self.count_tokens(context + text) <= self.chunk_tokens:
            return context
        return ""

    def _enforce_limit(self, start: int, body: str, budget: int | None = None) -> list[tuple[int, str, int]]:
        """(start, text, model input tokens) of the chunks of a piece: the splitter keeps an
        unsplittable piece whole; cut such a piece at token offsets."""
        encoding = self.tokenizer.encode(body, add_special_tokens=False)
        budget = budget or self.budget
        if len(encoding.ids) <= budget:
            return [(start, body, len(encoding.ids) + self.special_tokens)]
        parts = []
        for i in range(0, len(encoding.offsets), budget):
            window = encoding.offsets[i : i + budget]
            lo, hi = window[0][0], window[-1][1]
            parts.append((start + lo, body[lo:hi], self.count_tokens(body[lo:hi])))
        return parts


def section_path_at(sections: Sequence[tuple[int, int, str]], char_index: int, title: str = "") -> str:
    """The section path (" › "-joined headings) at a character offset of the text."""
    stack: list[tuple[int, str]] = []
    for start, level, heading in sorted((int(s[0]), int(s[1]), str(s[2])) for s in sections):
        if start > char_index:
            break
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
    return PATH_SEPARATOR.join(h for _, h in stack if h.casefold() != title.casefold())


def _page_of(page_offsets: list[int], char_index: int) -> int:
    """1-based page number holding a character offset."""
    if not page_offsets:
        return 1
    return max(1, bisect.bisect_right(page_offsets, char_index))
