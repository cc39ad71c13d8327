"""Embedding on a background thread while the batch's documents are still parsed and chunked, with progress."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ingestion_assets.progress import EmbeddingProgress

if TYPE_CHECKING:
    from resources.embedding_model import EmbeddingModel
    from resources.lancedb_store import LanceDBStore
    from resources.tables import ChunkRow

REPORT_EVERY_S = 30.0
REPORT_EVERY_FRACTION = 0.1


class EmbeddingPipeline:
    """Chunks are submitted as their document is chunked; a worker thread looks up the embedding
    cache and encodes what is missing (the model loads when the first uncached chunk arrives,
    while later documents are still being parsed). `finish` waits for the vectors.

    Progress messages are produced by the worker and logged by the submitting thread (`drain`),
    because Dagster's log manager is not meant to be called from other threads.
    """

    def __init__(self, store: LanceDBStore, model: EmbeddingModel, log: Callable[[str], None]) -> None:
        self.store = store
        self.model = model
        self.log = log
        self.vectors: dict[str, Any] = {}
        self.embedded: set[str] = set()
        self.load_seconds = 0.0
        self.encode_seconds = 0.0
        self.backend = ""
        self.precision = ""
        self.backend_reason = ""
        self._inbox: queue.Queue[list[ChunkRow] | None] = queue.Queue()
        self._messages: queue.Queue[str] = queue.Queue()
        self._error: BaseException | None = None
        self._started = time.perf_counter()
        self._queued = 0
        self._last_report = (0.0, 0)
        self._encode_started = 0.0
        self._model_loading = threading.Event()
        self._model_settled = threading.Event()
        self._thread = threading.Thread(target=self._work, name="embedding-pipeline", daemon=True)
        self._thread.start()

    def submit(self, chunks: list[ChunkRow]) -> None:
        """Queue a document's chunks. While the model loads, the caller waits instead of competing
        with it for the cores: the load delays every vector, parsing the next document does not."""
        if chunks:
            self._inbox.put(chunks)
        if self._model_loading.is_set():
            self._model_settled.wait()
        self.drain()

    def drain(self) -> None:
        """Log the progress messages the worker produced since the last call."""
        while True:
            try:
                self.log(self._messages.get_nowait())
            except queue.Empty:
                return

    def finish(self) -> dict[str, Any]:
        """Wait for every submitted chunk's vector; text hash -> vector."""
        self._inbox.put(None)
        while self._thread.is_alive():
            self._thread.join(timeout=1.0)
            self.drain()
        self.drain()
        if self._error is not None:
            raise self._error
        return self.vectors

    def _work(self) -> None:
        try:
            seen: set[str] = set()
            finished = False
            while not finished:
                pending: dict[str, str] = {}
                items = [self._inbox.get()]
                while True:
                    try:
                        items.append(self._inbox.get_nowait())
                    except queue.Empty:
                        break
                for item in items:
                    if item is None:
                        finished = True
                        continue
                    for chunk in item:
                        key = chunk.embedding_hash
                        if key not in seen:
                            seen.add(key)
                            pending[key] = chunk.embedded_text
                self._embed(pending)
        except BaseException as exc:
            self._error = exc

    def _embed(self, pending: dict[str, str]) -> None:
        if not pending:
            return
        self.vectors.update(self.store.cached_vectors(self.model.model_id, pending))
        todo = [(h, text) for h, text in pending.items() if h not in self.vectors]
        if not todo:
            return
        if not self.backend:
            t0 = time.perf_counter()
            self._model_loading.set()
            try:
                encoder = self.model.load()
            finally:
                self._model_settled.set()
            self.load_seconds = time.perf_counter() - t0
            self.backend, self.precision, self.backend_reason = encoder.backend, encoder.precision, encoder.reason
            self._messages.put(
                f"embedding model loaded in {self.load_seconds:.1f} s: {encoder.backend} {encoder.precision}, "
                f"{encoder.threads} thread(s) in {encoder.streams} stream(s) ({encoder.reason})"
            )
        base = len(self.embedded)
        self._queued = base + len(todo)
        t0 = self._encode_started = time.perf_counter()
        vectors = self.model.encode([text for _, text in todo], progress=lambda done, _: self._progress(base + done))
        self.encode_seconds += time.perf_counter() - t0
        self.vectors.update({h: v for (h, _), v in zip(todo, vectors, strict=True)})
        self.embedded.update(h for h, _ in todo)

    def _progress(self, done: int) -> None:
        now = time.perf_counter() - self._started
        last_time, last_done = self._last_report
        if done - last_done < REPORT_EVERY_FRACTION * self._queued and now - last_time < REPORT_EVERY_S:
            return
        self._last_report = (now, done)
        rate = done / max(self.encode_seconds + time.perf_counter() - self._encode_started, 1e-6)
        left = (self._queued - done) / rate if rate else 0.0
        self._messages.put(EmbeddingProgress(done, self._queued, rate, left).message())
