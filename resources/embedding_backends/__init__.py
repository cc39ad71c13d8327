"""Sentence embeddings on torch, OpenVINO or ONNX Runtime, with a once-per-model converted cache."""

from resources.embedding_backends.encoder import Encoder, Progress
from resources.embedding_backends.model_cache import (
    DEFAULT_CACHE_DIR,
    FORMAT_VERSION,
    MANIFEST,
    converted_model,
    model_fingerprint,
    valid_cache_folder,
)
from resources.embedding_backends.selection import (
    BACKENDS,
    PRECISIONS,
    Selection,
    available,
    cpu_flags,
    cpu_has_bf16,
    default_threads,
    installed,
    select_backend,
    unsupported_modules,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_CACHE_DIR",
    "FORMAT_VERSION",
    "MANIFEST",
    "PRECISIONS",
    "Encoder",
    "Progress",
    "Selection",
    "available",
    "converted_model",
    "cpu_flags",
    "cpu_has_bf16",
    "default_threads",
    "installed",
    "model_fingerprint",
    "select_backend",
    "unsupported_modules",
    "valid_cache_folder",
]
