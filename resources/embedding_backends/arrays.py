"""The numpy side of the openvino and onnx routes: padded model inputs, the model's pooling, unit vectors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens")


def pooling_modes(pooling_dir: Path) -> tuple[str, ...]:
    """The modes of the sentence-transformers Pooling module stored in `pooling_dir`."""
    config = json.loads((pooling_dir / "config.json").read_text())
    modes = config.get("pooling_mode") or [mode for key, mode in _LEGACY_POOLING.items() if config.get(key)] or ["mean"]
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    unknown = [mode for mode in modes if mode not in _POOLING_MODES]
    if unknown:
        raise ValueError(f"pooling mode(s) {unknown} not supported outside torch (supported: {_POOLING_MODES})")
    return modes


def model_inputs(encodings: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """input_ids and attention_mask of a batch, padded to its longest member."""
    import numpy as np

    width = max(len(e.ids) for e in encodings)
    input_ids = np.zeros((len(encodings), width), dtype=np.int64)
    attention_mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        input_ids[row, : len(encoding.ids)] = encoding.ids
        attention_mask[row, : len(encoding.ids)] = 1
    return input_ids, attention_mask


def unit_vectors(token_embeddings: np.ndarray, attention_mask: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """Pooled and normalised float32 sentence vectors of a batch's token embeddings."""
    import numpy as np

    vectors = _pool(token_embeddings.astype(np.float32), attention_mask, modes)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _pool(tokens: np.ndarray, mask: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """Sentence-transformers' Pooling on numpy arrays: (batch, tokens, dim) -> (batch, dim * len(modes))."""
    import numpy as np

    weights = mask.astype(np.float32)
    parts = []
    for mode in modes:
        if mode == "cls":
            parts.append(tokens[np.arange(len(tokens)), mask.argmax(axis=1)])
        elif mode == "max":
            parts.append(np.where(weights[:, :, None] > 0, tokens, -np.inf).max(axis=1))
        else:
            summed = np.matmul(weights[:, None, :], tokens)[:, 0]
            counts = np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
            parts.append(summed / (counts if mode == "mean" else np.sqrt(counts)))
    return np.concatenate(parts, axis=1)
