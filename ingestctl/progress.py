"""What `ingestctl` shows while its runs execute: a progress bar on a terminal, plain lines at a steady pace
otherwise, read from the runs' own event log; and the errors that are not a document's."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

import dagster as dg

from ingestion_assets.progress import EmbeddingProgress
from resources.tables import CHUNKS, DOCUMENTS, EMBEDDINGS

POLL_S = 0.5
BAR_EVERY_S = 0.2
PLAIN_EVERY_S = 10.0
INVOCATION_TAG = "ingestctl/invocation"
"""Tag naming the run a watcher follows (the run id is Dagster's to choose)."""


@dataclass
class RunState:
    """What one run has done so far, from its events."""

    documents: int = 0
    chunks: int = 0
    embeddings: int = 0
    embedding: EmbeddingProgress | None = None
    unexpected: list[str] = field(default_factory=list)
    """Step failures that are not the per-document `Failure` (their error with its traceback)."""
    finished: bool = False
    """The run ended: its documents are counted in `Totals.finished_documents`."""


@dataclass
class Totals:
    """The whole invocation: its runs and documents, for the bar."""

    runs: int
    documents: int
    started: float = field(default_factory=time.monotonic)
    run: int = 0
    finished_documents: int = 0


class Display:
    """A bar redrawn in place on a terminal; elsewhere a plain line every PLAIN_EVERY_S seconds."""

    def __init__(self, stream: TextIO, totals: Totals, enabled: bool = True) -> None:
        self.stream, self.totals, self.enabled = stream, totals, enabled
        self.terminal = enabled and stream.isatty()
        self.last_shown = 0.0
        self.drawn = False

    def update(self, state: RunState, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last_shown < (BAR_EVERY_S if self.terminal else PLAIN_EVERY_S):
            return
        self.last_shown = now
        if self.terminal:
            width = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + self.bar(state, width)[: width - 1] + "\x1b[K")
            self.drawn = True
        else:
            self.stream.write("progress: " + self.words(state) + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line, so that what follows starts on a line of its own."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False

    def done(self, state: RunState) -> int:
        return self.totals.finished_documents + (0 if state.finished else state.embeddings)

    def rate_and_left(self, state: RunState) -> tuple[float, float | None]:
        elapsed = max(time.monotonic() - self.totals.started, 1e-6)
        done = self.done(state)
        rate = done / elapsed
        left = (self.totals.documents - done) / rate if done else None
        if state.embedding is not None and done == self.totals.finished_documents and not state.finished:
            left = state.embedding.seconds_left
        return rate, (None if done >= self.totals.documents else left)

    def bar(self, state: RunState, width: int) -> str:
        done, total = self.done(state), max(self.totals.documents, 1)
        cells = max(10, min(30, width // 4))
        filled = int(cells * done / total)
        return f"▕{'█' * filled}{'░' * (cells - filled)}▏ " + self.words(state)

    def words(self, state: RunState) -> str:
        rate, left = self.rate_and_left(state)
        parts = [
            f"{self.done(state)} of {self.totals.documents} document(s)",
            f"run {self.totals.run} of {self.totals.runs}",
        ]
        if state.embedding is not None:
            parts.append(f"{state.embedding.done} of {state.embedding.queued} chunk(s) embedded")
            parts.append(f"{state.embedding.chunks_per_second:.1f} chunks/s")
        elif rate:
            parts.append(f"{rate:.1f} documents/s")
        if left is not None:
            parts.append(f"~{left:.0f} s left")
        return ", ".join(parts)


class RunWatcher(threading.Thread):
    """Follows the events of the run tagged with `token` until stopped, feeding `display`."""

    def __init__(self, instance: dg.DagsterInstance, token: str, display: Display) -> None:
        super().__init__(daemon=True, name="ingestctl-progress")
        self.instance, self.token, self.display = instance, token, display
        self.state = RunState()
        self.run_id: str | None = None
        self.cursor: str | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(POLL_S):
            self.poll()

    def stop(self) -> RunState:
        """Stop following and read the run's last events."""
        self.stopping.set()
        self.join()
        self.poll()
        return self.state

    def poll(self) -> None:
        if self.run_id is None:
            runs = self.instance.get_run_records(filters=dg.RunsFilter(tags={INVOCATION_TAG: self.token}), limit=1)
            if not runs:
                return
            self.run_id = runs[0].dagster_run.run_id
        connection = self.instance.get_records_for_run(self.run_id, cursor=self.cursor)
        self.cursor = connection.cursor
        for record in connection.records:
            self.take(record.event_log_entry)
        self.display.update(self.state)

    def take(self, entry) -> None:
        event = entry.dagster_event
        if event is None:
            progress = EmbeddingProgress.parse(entry.user_message)
            if progress is not None:
                self.state.embedding = progress
            return
        if event.event_type_value == "ASSET_MATERIALIZATION":
            phase = event.asset_key.path[-1]
            if phase == DOCUMENTS:
                self.state.documents += 1
            elif phase == CHUNKS:
                self.state.chunks += 1
            elif phase == EMBEDDINGS:
                self.state.embeddings += 1
        elif event.event_type_value == "STEP_FAILURE":
            data = event.step_failure_data
            if data.user_failure_data is None and data.error is not None:
                self.state.unexpected.append(data.error.to_string())


def print_unexpected(state: RunState, where: str, stream: TextIO = sys.stderr) -> None:
    """Errors that are not a document's failure (those are the summary's): in full, with their traceback."""
    for error in state.unexpected:
        stream.write(f"{where}: unexpected error, not a document's failure:\n{error.rstrip()}\n")
    stream.flush()
