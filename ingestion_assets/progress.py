"""The embedding progress a run writes to its log, formatted and read back in one place (the CLI shows it)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERN = re.compile(
    r"^embedding: (?P<done>\d+) of (?P<queued>\d+) chunk\(s\) queued so far, "
    r"(?P<rate>[\d.]+) chunks/s, ~(?P<left>[\d.]+) s left$"
)


@dataclass(frozen=True)
class EmbeddingProgress:
    done: int
    queued: int
    """Chunks handed to the model so far (the batch's documents may still be parsed and chunked)."""
    chunks_per_second: float
    seconds_left: float

    def message(self) -> str:
        return (
            f"embedding: {self.done} of {self.queued} chunk(s) queued so far, "
            f"{self.chunks_per_second:.1f} chunks/s, ~{self.seconds_left:.0f} s left"
        )

    @classmethod
    def parse(cls, message: str) -> EmbeddingProgress | None:
        match = _PATTERN.match(message or "")
        if match is None:
            return None
        return cls(int(match["done"]), int(match["queued"]), float(match["rate"]), float(match["left"]))
