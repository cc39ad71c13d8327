"""Sentence embeddings on torch, OpenVINO or ONNX Runtime, with a once-per-model converted cache."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

BACKENDS = ("torch", "openvino", "onnx")
PRECISIONS = ("f32", "bf16")
DEFAULT_CACHE_DIR = Path("~/.cache/rag-ingest/models")
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
"""Bumped whenever the exported network changes, so old cache folders are no longer used."""

_FILES = {"openvino": ("model.xml", "model.bin"), "onnx": ("model.onnx",)}
_RUNTIME_MODULE = {"openvino": "openvino", "onnx": "onnxruntime"}
_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens")

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


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
            _pooling_modes(model_dir / pooling[0].get("path", ""))
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
            raise ValueError(f"embedding backend {backend!r} needs {_RUNTIME_MODULE[backend]}, which is not installed")
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

    return version(_RUNTIME_MODULE[backend])


def _token_network(model_dir: Path) -> tuple[Any, tuple[Any, Any]]:
    """The transformer as a torch module (input_ids, attention_mask) -> token embeddings, and an example input."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    input_ids = torch.full((2, 16), 100, dtype=torch.int64)
    attention_mask = torch.ones((2, 16), dtype=torch.int64)
    attention_mask[1, 9:] = 0
    return TokenEmbeddings(), (input_ids, attention_mask)


def _import_openvino() -> Any:
    """openvino with its telemetry stubbed out: by default `import openvino` records a client id and sends usage events."""
    sys.modules.setdefault("openvino_telemetry", None)
    import openvino

    return openvino


def _convert_openvino(model_dir: Path, out: Path) -> None:
    import torch

    ov = _import_openvino()

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


def _pooling_modes(pooling_dir: Path) -> tuple[str, ...]:
    config = json.loads((pooling_dir / "config.json").read_text())
    modes = config.get("pooling_mode") or [mode for key, mode in _LEGACY_POOLING.items() if config.get(key)] or ["mean"]
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    unknown = [mode for mode in modes if mode not in _POOLING_MODES]
    if unknown:
        raise ValueError(f"pooling mode(s) {unknown} not supported outside torch (supported: {_POOLING_MODES})")
    return modes


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
            self._sentence_transformer = self._load_torch()
            self.dimensions = int(self._sentence_transformer.get_embedding_dimension())
        else:
            modules = json.loads((self.model_dir / "modules.json").read_text())
            pooling_dir = self.model_dir / next(m["path"] for m in modules if m["type"].endswith("Pooling"))
            self._pooling = _pooling_modes(pooling_dir)
            hidden = json.loads((self.model_dir / "config.json").read_text())["hidden_size"]
            self.dimensions = int(hidden) * len(self._pooling)
            self.converted_path = converted_model(self.model_dir, self.backend, cache_dir)
            if self.backend == "openvino":
                self._infer_queue = self._load_openvino()
            else:
                self._run = self._load_onnx()

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
        encodings = self._tokenizer.encode_batch(inputs)
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        batches = [order[start : start + self.batch_size] for start in range(0, total, self.batch_size)]
        if self.backend == "openvino":
            with self._encoding:  # one infer queue and completion callback per encoder
                self._encode_openvino(encodings, batches, out, progress)
            return out
        done = 0
        for rows in batches:
            if self.backend == "torch":
                out[rows] = self._encode_torch([texts[i] for i in rows])
            else:
                input_ids, attention_mask = _model_inputs([encodings[i] for i in rows])
                out[rows] = self._vectors(self._run(input_ids, attention_mask), attention_mask)
            done += len(rows)
            if progress is not None:
                progress(done, total)
        return out

    def _load_tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_seq_length)
        tokenizer.no_padding()
        return tokenizer

    def _load_torch(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()

        if self.device == "cpu":
            torch.set_num_threads(self.threads)
        return SentenceTransformer(str(self.model_dir), device=self.device)

    def _encode_torch(self, batch: list[str]) -> np.ndarray:
        return self._sentence_transformer.encode(
            batch, batch_size=len(batch), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    def _load_openvino(self) -> Any:
        """The model compiled for throughput: one stream per thread (OpenVINO decides how many),
        each running its own batch. Streams do not wait for each other, so a core taken by other
        work (parsing, Dagster's event writes) slows one stream instead of stalling every thread."""
        ov = _import_openvino()
        config = {
            "INFERENCE_PRECISION_HINT": self.precision,
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "THROUGHPUT",
        }
        compiled = ov.Core().compile_model(str(self.converted_path / "model.xml"), "CPU", config)
        self.streams = int(compiled.get_property("NUM_STREAMS"))
        return ov.AsyncInferQueue(compiled, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))

    def _encode_openvino(
        self, encodings: list[Any], batches: list[np.ndarray], out: np.ndarray, progress: Progress | None
    ) -> None:
        """Every batch in flight on the infer queue; vectors land in `out` as requests complete."""
        lock = threading.Lock()
        done = 0
        errors: list[BaseException] = []

        def completed(request: Any, job: tuple[np.ndarray, np.ndarray]) -> None:
            nonlocal done
            rows, attention_mask = job
            try:
                out[rows] = self._vectors(request.get_output_tensor(0).data, attention_mask)
            except BaseException as exc:
                errors.append(exc)
            with lock:
                done += len(rows)
                finished = done
            if progress is not None:
                progress(finished, len(out))

        self._infer_queue.set_callback(completed)
        for rows in batches:
            input_ids, attention_mask = _model_inputs([encodings[i] for i in rows])
            self._infer_queue.start_async(
                {"input_ids": input_ids, "attention_mask": attention_mask}, (rows, attention_mask)
            )
        self._infer_queue.wait_all()
        if errors:
            raise errors[0]

    def _load_onnx(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            str(self.converted_path / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

        def run(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
            return session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]

        return run

    def _vectors(self, token_embeddings: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        import numpy as np

        vectors = _pool(token_embeddings.astype(np.float32), attention_mask, self._pooling)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def _model_inputs(encodings: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """input_ids and attention_mask of a batch, padded to its longest member."""
    import numpy as np

    width = max(len(e.ids) for e in encodings)
    input_ids = np.zeros((len(encodings), width), dtype=np.int64)
    attention_mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        input_ids[row, : len(encoding.ids)] = encoding.ids
        attention_mask[row, : len(encoding.ids)] = 1
    return input_ids, attention_mask
