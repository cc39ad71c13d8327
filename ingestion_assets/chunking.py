"""Split document text into chunks sized in the embedding model's own tokens (the `chunks` phase).

Chunks follow the document's structure: each section (the text from one heading to the next) is
split on its own, so a chunk never straddles two sections, except that a heading with hardly any
text of its own ("3 Options" directly followed by "3.1 Transfer") travels with the next section.
Every chunk knows its section path ("3 Options › 3.2 Rounding") and carries a context header,
"document title › section path\\n\\n", meant to be embedded in front of its text: the header is
counted in the token budget, so `context + text` never exceeds `chunk_tokens` (a header that would
leave too little room for text is shortened, never the text).

A Markdown table longer than a chunk (lines starting with `|`: header row, `|---|` line, rows) is
split by rows: the first piece holds the header row and its `|---|` line as written (with a short
lead-in before the table, such as the sheet's heading), and every later piece carries them in its
context header instead ("title › section\\n\\n| a | b |\\n|---|---|\\n"), so each chunk says what its
columns mean while its `char_start`/`char_end` still point at its own text. A row longer than the
room left is split as text (langchain's splitter, then token offsets), each part with the table
header in its context. Table pieces do not overlap. A table whose header row would take more than
half the room is split as text.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from resources.tables import DEFAULT_SOURCE, ChunkRow, text_hash

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tokenizers import Tokenizer

    from resources.chunker_config import ChunkerConfig
    from resources.embedding_model import EmbeddingModel

SPLITTER_VERSION = "sections-4"
PATH_SEPARATOR = " › "
HEADER_END = "\n\n"
PREFIX_CHARS_PER_TOKEN = 16
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t\r]*$", re.MULTILINE)
"""The `|---|---|` line under a Markdown table's header row."""


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
        title: str | None = None,
        *,
        name: str | None = None,
        source: str = DEFAULT_SOURCE,
    ) -> list[ChunkRow]:
        """Chunks of `text`, section by section, of the document `doc_id` of `source`.

        Sections are always read from the text's Markdown `#` lines (every parser writes its
        headings that way; not in .txt files), so chunking stored text gives the same chunks as
        chunking a fresh parse. `title` defaults to the first top-level heading, else the file
        `name` (default `doc_id`) without its suffix.
        """
        from ingestion_assets.parsing import markdown_sections

        file_name = PurePosixPath(name or doc_id)
        sections = markdown_sections(text, atx=file_name.suffix.lower() != ".txt")
        sections = sorted((int(s[0]), int(s[1]), str(s[2])) for s in sections)
        if title is None:
            top = min((s[1] for s in sections), default=0)
            title = next((s[2] for s in sections if s[1] == top), "") or file_name.stem
        chunks: list[ChunkRow] = []
        self._content_tokens.clear()
        for start, end, path in self._segments(text, sections, title):
            context, header_tokens = self._header(title, path)
            budget = self.budget - header_tokens
            position = start
            for lead, table_start, header_end, table_end in self._long_tables(text, start, end, budget):
                if lead > position:
                    self._split_text(doc_id, text, position, lead, path, context, budget, page_offsets, chunks)
                self._split_table(
                    doc_id,
                    text,
                    (lead, table_start, header_end, table_end),
                    path,
                    context,
                    budget,
                    page_offsets,
                    chunks,
                )
                position = table_end
            self._split_text(doc_id, text, position, end, path, context, budget, page_offsets, chunks)
        return chunks if source == DEFAULT_SOURCE else [replace(chunk, source=source) for chunk in chunks]

    def _split_text(
        self,
        doc_id: str,
        text: str,
        start: int,
        end: int,
        path: str,
        context: str,
        budget: int,
        page_offsets: list[int],
        chunks: list[ChunkRow],
    ) -> None:
        """Chunks of `text[start:end]` by langchain's recursive splitter, each within `budget` tokens."""
        body = text[start:end]
        if not body.strip():
            return
        for piece in self._splitter(budget).create_documents([body]):
            content = piece.page_content
            if not content.strip():
                continue
            offset = int(piece.metadata.get("start_index", -1))
            if offset < 0:
                offset = body.find(content)
            for part_start, part, tokens in self._enforce_limit(start + offset, content, budget):
                chunks.append(
                    self._chunk(
                        doc_id, len(chunks), part_start, part, tokens, path, self._fit(context, part), page_offsets
                    )
                )

    def _chunk(
        self,
        doc_id: str,
        seq: int,
        start: int,
        part: str,
        tokens: int,
        path: str,
        context: str,
        page_offsets: list[int],
    ) -> ChunkRow:
        end = start + len(part)
        return ChunkRow(
            chunk_id=chunk_id_for(doc_id, seq, part),
            doc_id=doc_id,
            seq=seq,
            text=part,
            text_hash=text_hash(part),
            page_start=_page_of(page_offsets, start),
            page_end=_page_of(page_offsets, max(start, end - 1)),
            char_start=start,
            char_end=end,
            token_count=tokens,
            chunker=self.version,
            section=path,
            context=context,
        )

    def _long_tables(self, text: str, start: int, end: int, budget: int) -> list[tuple[int, int, int, int]]:
        """(lead, table start, header end, table end) of each Markdown table in `text[start:end]` longer
        than `budget` tokens. `lead` is where its first piece starts: before the table when the text
        since the previous table (or the section start) is shorter than `min_preamble_tokens` (a
        heading, a caption), else the table start."""
        tables: list[tuple[int, int, int, int]] = []
        position = start
        for match in _TABLE_DELIMITER.finditer(text, start, end):
            delimiter = match.start()
            if delimiter <= position:
                continue
            newline = text.rfind("\n", position, delimiter - 1)
            table_start = newline + 1 if newline >= 0 else position
            if not text[table_start : delimiter - 1].lstrip(" ").startswith("|"):
                continue
            header_end = match.end()
            table_end = header_end
            while table_end < end and text[table_end] == "\n":
                line_end = text.find("\n", table_end + 1, end)
                line_end = end if line_end < 0 else line_end
                if not text[table_end + 1 : line_end].lstrip(" ").startswith("|"):
                    break
                table_end = line_end
            while table_end > header_end and text[table_end - 1].isspace():
                table_end -= 1
            if table_end == header_end or not self._at_least(text, table_start, table_end, budget + 1):
                continue
            before = text[position:table_start]
            lead = table_start
            if before.strip() and not self._at_least(text, position, table_start, self.min_preamble_tokens):
                lead = position + len(before) - len(before.lstrip())
            tables.append((lead, table_start, header_end, table_end))
            position = table_end
        return tables

    def _split_table(
        self,
        doc_id: str,
        text: str,
        table: tuple[int, int, int, int],
        path: str,
        context: str,
        budget: int,
        page_offsets: list[int],
        chunks: list[ChunkRow],
    ) -> None:
        """Chunks of a long table, rows packed greedily: the first from `lead` with the header as
        written, the others with the header row and `|---|` line in their context."""
        lead, table_start, header_end, table_end = table
        repeat = text[table_start:header_end].rstrip("\r") + "\n"
        repeat_tokens = self.count_content_tokens(repeat)
        if repeat_tokens > budget // 2:
            self._split_text(doc_id, text, lead, table_end, path, context, budget, page_offsets, chunks)
            return
        rows: list[tuple[int, int, int]] = []  # start, end, content tokens
        position = header_end + 1
        while position < table_end:
            line_end = text.find("\n", position, table_end)
            line_end = table_end if line_end < 0 else line_end
            row = text[position:line_end].rstrip()
            if row:
                rows.append((position, position + len(row), self._tokens(row)))
            position = line_end + 1
        first_tokens = self.count_content_tokens(text[lead:header_end])
        row_context = context + repeat
        i = 0
        while i < len(rows) or lead is not None:
            first = lead is not None
            piece_start = lead if lead is not None else rows[i][0]
            piece_context = context if first else row_context
            used = first_tokens if first else repeat_tokens
            j = i
            while j < len(rows) and used + rows[j][2] <= budget:
                used += rows[j][2]
                j += 1
            while j > i and self.count_tokens(piece_context + text[piece_start : rows[j - 1][1]]) > self.chunk_tokens:
                j -= 1
            if j == i and not first:
                room = budget - repeat_tokens
                self._split_row(doc_id, text, rows[i], path, context, row_context, room, page_offsets, chunks)
                i += 1
                continue
            part = text[piece_start : rows[j - 1][1] if j > i else header_end]
            if j == i:  # only the lead-in and header: the first row is split on its own
                piece_context = self._fit(piece_context, part)
            seq = len(chunks)
            tokens = self.count_tokens(part)
            chunks.append(self._chunk(doc_id, seq, piece_start, part, tokens, path, piece_context, page_offsets))
            lead = None
            i = j

    def _split_row(
        self,
        doc_id: str,
        text: str,
        row: tuple[int, int, int],
        path: str,
        context: str,
        row_context: str,
        room: int,
        page_offsets: list[int],
        chunks: list[ChunkRow],
    ) -> None:
        """A table row longer than a chunk, split as text; each part keeps the table header in its context."""
        start, end, _ = row
        body = text[start:end]
        for piece in self._splitter(room).create_documents([body]):
            offset = int(piece.metadata.get("start_index", -1))
            if offset < 0:
                offset = body.find(piece.page_content)
            for part_start, part, tokens in self._enforce_limit(start + offset, piece.page_content, room):
                fitted = row_context if self.count_tokens(row_context + part) <= self.chunk_tokens else ""
                chunk_context = fitted or self._fit(context, part)
                chunks.append(
                    self._chunk(doc_id, len(chunks), part_start, part, tokens, path, chunk_context, page_offsets)
                )

    def _at_least(self, text: str, start: int, end: int, tokens: int) -> bool:
        """Whether `text[start:end]` has at least `tokens` content tokens, counted on its first lines
        when they settle it (tokenizers split words at whitespace, so a prefix cut at a line break has
        no more tokens than the whole)."""
        cut = start + PREFIX_CHARS_PER_TOKEN * (tokens + 1)
        if end > cut:
            newline = text.rfind("\n", start, cut)
            if newline > start and self._tokens(text[start:newline]) >= tokens:
                return True
        return self.count_content_tokens(text[start:end]) >= tokens

    def _tokens(self, text: str) -> int:
        """Content tokens of `text`, not remembered (table rows are many and seen once)."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

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
            # a heading with hardly any text of its own ("3 Options" right before "3.1 Transfer"),
            # or a short preamble: the title with a subtitle, an HTML page's <title> line
            small = (
                bool(heading_line) and not self._at_least(text, start + heading_line, end, self.min_section_tokens)
            ) or (not path and not self._at_least(text, start + heading_line, end, self.min_preamble_tokens))
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
