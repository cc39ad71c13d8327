"""The Encoder: tokenizing, batching, progress and pooling around the selected backend's runtime."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resources.embedding_backends import onnx_encoder, openvino_encoder, torch_encoder
from resources.embedding_backends.arrays import model_inputs, pooling_modes, unit_vectors
from resources.embedding_backends.model_cache import converted_model
from resources.embedding_backends.selection import default_threads, select_backend

if TYPE_CHECKING:
    import numpy as np

Progress = Callable[[int, int], None]


class Encoder:
    """Unit-norm float32 sentence vectors from one model on the selected backend.

    `encode` sorts texts by token count into batches of `batch_size` and returns rows in input
    order; openvino and onnx never import torch or sentence-transformers once the model is cached.
    """

    def __init__(
        self,
        model_dir: str | Path,
        backend: str = "auto",
        device: str = "cpu",
        precision: str = "auto",
        threads: int | None = None,
        batch_size: int = 32,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        selection = select_backend(backend, device, precision, self.model_dir)
        self.backend, self.precision, self.reason = selection.backend, selection.precision, selection.reason
        self.device = device
        self.threads = threads or default_threads()
        self.batch_size = batch_size
        self.streams = 1
        self._encoding = threading.Lock()
        self.converted_path: Path | None = None
        sbert = self.model_dir / "sentence_bert_config.json"
        sbert_config = json.loads(sbert.read_text()) if sbert.exists() else {}
        positions = json.loads((self.model_dir / "config.json").read_text()).get("max_position_embeddings", 512)
        self.max_seq_length = min(int(sbert_config.get("max_seq_length", positions)), positions)
        self._lower_case = bool(sbert_config.get("do_lower_case", False))
        self._tokenizer = self._load_tokenizer()
        if self.backend == "torch":
            self._sentence_transformer = torch_encoder.load(self.model_dir, self.device, self.threads)
            self.dimensions = int(self._sentence_transformer.get_embedding_dimension())
        else:
            modules = json.loads((self.model_dir / "modules.json").read_text())
            pooling_dir = self.model_dir / next(m["path"] for m in modules if m["type"].endswith("Pooling"))
            self._pooling = pooling_modes(pooling_dir)
            hidden = json.loads((self.model_dir / "config.json").read_text())["hidden_size"]
            self.dimensions = int(hidden) * len(self._pooling)
            self.converted_path = converted_model(self.model_dir, self.backend, cache_dir)
            if self.backend == "openvino":
                model_xml = self.converted_path / "model.xml"
                self._infer_queue, self.streams = openvino_encoder.load(model_xml, self.precision, self.threads)
            else:
                self._run = onnx_encoder.load(self.converted_path / "model.onnx", self.threads)

    def __repr__(self) -> str:
        return f"Encoder({self.backend} {self.precision}, {self.threads} threads: {self.reason})"

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """(len(texts), dimensions) float32 unit vectors; `progress(done, total)` is called after each batch."""
        import numpy as np

        total = len(texts)
        out = np.zeros((total, self.dimensions), dtype=np.float32)
        if not total:
            return out
        inputs = [t.lower() for t in texts] if self._lower_case else list(texts)
        # One text at a time: `encode_batch` would spread over every core (Rust threads that compete with
        # the inference threads and the parsing thread) unless TOKENIZERS_PARALLELISM is set process-wide.
        encodings = [self._tokenizer.encode(text) for text in inputs]
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        batches = [order[start : start + self.batch_size] for start in range(0, total, self.batch_size)]
        advance = _counter(progress, total)
        if self.backend == "openvino":

            def store(rows: np.ndarray, token_embeddings: np.ndarray, attention_mask: np.ndarray) -> None:
                out[rows] = unit_vectors(token_embeddings, attention_mask, self._pooling)

            jobs = ((rows, *model_inputs([encodings[i] for i in rows])) for rows in batches)
            with self._encoding:  # one infer queue and completion callback per encoder
                openvino_encoder.infer_all(self._infer_queue, jobs, store, advance)
            return out
        for rows in batches:
            if self.backend == "torch":
                out[rows] = torch_encoder.encode(self._sentence_transformer, [texts[i] for i in rows])
            else:
                input_ids, attention_mask = model_inputs([encodings[i] for i in rows])
                out[rows] = unit_vectors(self._run(input_ids, attention_mask), attention_mask, self._pooling)
            advance(len(rows))
        return out

    def _load_tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_seq_length)
        tokenizer.no_padding()
        return tokenizer


def _counter(progress: Progress | None, total: int) -> Callable[[int], None]:
    """A function adding up the rows done and passing the sum to `progress`; safe to call from several threads."""
    lock = threading.Lock()
    done = 0

    def advance(rows: int) -> None:
        nonlocal done
        with lock:
            done += rows
            finished = done
        if progress is not None:
            progress(finished, total)

    return advance
