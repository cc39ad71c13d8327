"""The model converted for openvino or onnx (with torch, once per model and runtime version), cached on disk."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from resources.embedding_backends.openvino_encoder import import_openvino
from resources.embedding_backends.selection import RUNTIME_MODULE

DEFAULT_CACHE_DIR = Path("~/.cache/rag-ingest/models")
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
"""Bumped whenever the exported network changes, so old cache folders are no longer used."""

log = logging.getLogger(__package__)


def model_fingerprint(model_dir: str | Path) -> str:
    """sha256 over the model's config and weight files (names and contents)."""
    digest = hashlib.sha256()
    files = sorted(
        p for p in Path(model_dir).iterdir() if p.is_file() and p.suffix in (".json", ".safetensors", ".bin")
    )
    for path in files:
        digest.update(f"{path.name}\0{_sha256(path)}\0".encode())
    return digest.hexdigest()


def converted_model(model_dir: str | Path, backend: str, cache_dir: str | Path | None = None) -> Path:
    """The folder holding `model_dir` converted for `backend`, converting it (with torch) on first use.

    The folder is published by renaming a complete temporary sibling whose manifest (names, sizes,
    sha256) is written last; a folder that fails its manifest is removed and rebuilt.
    """
    import fcntl

    cache_dir = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
    key = f"{backend}-{_runtime_version(backend)}-v{FORMAT_VERSION}-{model_fingerprint(model_dir)[:20]}"
    target = cache_dir / key
    if valid_cache_folder(target):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f".{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if valid_cache_folder(target):
            return target
        if target.exists():
            log.warning("removing corrupt converted model %s", target)
            shutil.rmtree(target, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache_dir))
        try:
            started = time.perf_counter()
            _CONVERTERS[backend](Path(model_dir), tmp)
            _write_manifest(tmp, {"backend": backend, "model_dir": str(model_dir), "key": key})
            try:
                os.rename(tmp, target)
            except OSError:
                if not valid_cache_folder(target):
                    raise
            log.info("converted %s for %s in %.1f s into %s", model_dir, backend, time.perf_counter() - started, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def valid_cache_folder(folder: Path) -> bool:
    """True when `folder` has a manifest and every file it lists has the recorded size and sha256."""
    try:
        files = json.loads((folder / MANIFEST).read_text())["files"]
        if not files or any((folder / name).stat().st_size != meta["size"] for name, meta in files.items()):
            return False
        return all(_sha256(folder / name) == meta["sha256"] for name, meta in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _write_manifest(folder: Path, info: dict[str, Any]) -> None:
    files = {p.name: {"size": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(folder.iterdir())}
    for path in folder.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    with open(folder / MANIFEST, "w") as f:
        json.dump({**info, "files": files}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _runtime_version(backend: str) -> str:
    from importlib.metadata import version

    return version(RUNTIME_MODULE[backend])


def _token_network(model_dir: Path) -> tuple[Any, tuple[Any, Any]]:
    """The transformer as a torch module (input_ids, attention_mask) -> token embeddings, and an example input.

    The weights are read from `model_dir` only, never from the Hugging Face Hub.
    """
    import torch
    from transformers import AutoModel

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = AutoModel.from_pretrained(
                str(model_dir), attn_implementation="eager", local_files_only=True
            ).eval()

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    input_ids = torch.full((2, 16), 100, dtype=torch.int64)
    attention_mask = torch.ones((2, 16), dtype=torch.int64)
    attention_mask[1, 9:] = 0
    return TokenEmbeddings(), (input_ids, attention_mask)


def _convert_openvino(model_dir: Path, out: Path) -> None:
    import torch

    ov = import_openvino()

    network, (input_ids, attention_mask) = _token_network(model_dir)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ov_model = ov.convert_model(network, example_input={"input_ids": input_ids, "attention_mask": attention_mask})
    ov_model.outputs[0].get_tensor().set_names({"token_embeddings"})
    ov.save_model(ov_model, out / "model.xml", compress_to_fp16=False)


def _convert_onnx(model_dir: Path, out: Path) -> None:
    import torch

    if importlib.util.find_spec("onnx") is None:
        raise RuntimeError("converting the model for onnxruntime needs the onnx package (pip install onnx)")
    network, example = _token_network(model_dir)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network,
            example,
            str(out / "model.onnx"),
            dynamo=False,
            input_names=["input_ids", "attention_mask"],
            output_names=["token_embeddings"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_embeddings": axes},
            opset_version=17,
        )


_CONVERTERS = {"openvino": _convert_openvino, "onnx": _convert_onnx}
