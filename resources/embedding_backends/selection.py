"""Which backend and precision an encoder runs on: CPU flags, installed runtimes and the model's modules."""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from resources.embedding_backends.arrays import pooling_modes

BACKENDS = ("torch", "openvino", "onnx")
PRECISIONS = ("f32", "bf16")
RUNTIME_MODULE = {"openvino": "openvino", "onnx": "onnxruntime"}


@dataclass(frozen=True)
class Selection:
    backend: str
    precision: str
    reason: str


def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX-BF16)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def installed(backend: str) -> bool:
    """Whether the runtime of `backend` can be imported, without importing it."""
    names = {"torch": ("torch", "sentence_transformers"), "openvino": ("openvino",), "onnx": ("onnxruntime",)}
    return all(importlib.util.find_spec(name) is not None for name in names[backend])


def available(backend: str) -> bool:
    """Whether `backend` can run here from an empty model cache: its runtime installed and, for
    onnx, the `onnx` package that converts the model."""
    return installed(backend) and (backend != "onnx" or importlib.util.find_spec("onnx") is not None)


def default_threads() -> int:
    return len(os.sched_getaffinity(0))


def unsupported_modules(model_dir: str | Path) -> list[str]:
    """Module types of the model that the openvino/onnx route cannot run (empty when it can)."""
    model_dir = Path(model_dir)
    if not (model_dir / "modules.json").exists():
        return ["no modules.json (not a sentence-transformers model folder)"]
    modules = json.loads((model_dir / "modules.json").read_text())
    bad = [m["type"] for m in modules if m["type"].rsplit(".", 1)[-1] not in ("Transformer", "Pooling", "Normalize")]
    if not modules or modules[0]["type"].rsplit(".", 1)[-1] != "Transformer" or modules[0].get("path", ""):
        bad.append("first module must be a Transformer stored in the model's root folder")
    pooling = [m for m in modules if m["type"].endswith("Pooling")]
    if len(pooling) != 1:
        bad.append(f"{len(pooling)} Pooling modules")
    else:
        try:
            pooling_modes(model_dir / pooling[0].get("path", ""))
        except ValueError as exc:
            bad.append(str(exc))
    return bad


def select_backend(
    backend: str = "auto", device: str = "cpu", precision: str = "auto", model_dir: str | Path | None = None
) -> Selection:
    """The backend and precision to use, and a readable reason why.

    `auto` prefers openvino, then onnx, then torch; a device other than cpu always means torch.
    Precision `auto` is bf16 on openvino when the CPU has avx512_bf16/amx, else f32.
    """
    if backend not in ("auto", *BACKENDS):
        raise ValueError(f"unknown embedding backend {backend!r}; expected auto or one of {BACKENDS}")
    if precision not in ("auto", *PRECISIONS):
        raise ValueError(f"unknown precision {precision!r}; expected auto or one of {PRECISIONS}")
    if device != "cpu":
        if backend not in ("auto", "torch"):
            raise ValueError(f"the {backend} backend runs on cpu only, not on {device!r}; use torch")
        return _torch_selection(precision, f"device {device!r} needs torch")
    if backend == "torch":
        return _torch_selection(precision, "torch requested")
    unsupported = unsupported_modules(model_dir) if model_dir is not None else []
    if backend != "auto":
        if not installed(backend):
            raise ValueError(f"embedding backend {backend!r} needs {RUNTIME_MODULE[backend]}, which is not installed")
        if unsupported:
            raise ValueError(f"the {backend} backend cannot run this model: {'; '.join(unsupported)}")
        return _fast_selection(backend, precision, f"{backend} requested")
    if unsupported:
        return _torch_selection(precision, f"model not supported by openvino/onnx ({'; '.join(unsupported)})")
    if installed("openvino"):
        return _fast_selection("openvino", precision, "auto: openvino installed")
    if available("onnx"):
        return _fast_selection("onnx", precision, "auto: openvino not installed; onnxruntime and onnx are")
    return _torch_selection(precision, "auto: openvino not installed (nor onnxruntime + onnx)")


def _torch_selection(precision: str, reason: str) -> Selection:
    if precision == "bf16":
        raise ValueError("the torch backend runs f32 only; use precision f32 or auto")
    return Selection("torch", "f32", reason)


def _fast_selection(backend: str, precision: str, reason: str) -> Selection:
    if backend == "onnx":
        if precision == "bf16":
            raise ValueError("the onnx backend runs f32 only; use precision f32 or auto")
        return Selection("onnx", "f32", reason)
    if precision == "f32":
        return Selection(backend, "f32", f"{reason}; f32 forced")
    if cpu_has_bf16():
        return Selection(backend, "bf16", f"{reason}; CPU has bf16 (avx512_bf16/amx)")
    if precision == "bf16":
        raise ValueError("precision bf16 requested but the CPU lacks avx512_bf16/amx")
    return Selection(backend, "f32", f"{reason}; CPU lacks avx512_bf16/amx: using f32")
