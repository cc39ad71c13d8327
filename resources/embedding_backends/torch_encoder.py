"""The torch route: the model run by sentence-transformers, which pools and normalises itself."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def load(model_dir: Path, device: str, threads: int) -> Any:
    """The SentenceTransformer stored in `model_dir`, read from that folder only, never from the Hugging Face Hub.

    Changes two process-wide settings, as torch and transformers have no per-model ones: on cpu, torch's number
    of threads (`torch.set_num_threads`), and transformers' and huggingface_hub's progress bars, switched off
    so that loading the weights prints no bar.
    """
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()

    if device == "cpu":
        torch.set_num_threads(threads)
    return SentenceTransformer(str(model_dir), device=device, local_files_only=True)


def encode(model: Any, texts: list[str]) -> np.ndarray:
    """Unit-norm float32 vectors of one batch of texts."""
    return model.encode(
        texts, batch_size=len(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
