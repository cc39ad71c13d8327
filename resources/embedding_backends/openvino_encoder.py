"""The openvino route: the converted model compiled for throughput and run on OpenVINO's asynchronous infer queue."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def import_openvino() -> Any:
    """The openvino module, imported without its telemetry.

    `import openvino` imports `openvino_telemetry` (a dependency of openvino) and, unless the user opted out
    with its `opt_in_out` script, writes a client id and statistics under ~/intel and sends a usage event.
    openvino has no in-process switch for that (its switches are that script, which writes the opt-out into the
    user's home, and CI environment variables), but falls back to its own no-op stub when `openvino_telemetry`
    cannot be imported. So, unless either is imported already, `sys.modules` maps `openvino_telemetry` to None
    while openvino is imported, and that entry is removed again afterwards: openvino keeps the stub, and the rest
    of the process sees `sys.modules` as it was.
    """
    if "openvino" not in sys.modules and "openvino_telemetry" not in sys.modules:
        sys.modules["openvino_telemetry"] = None
        try:
            import openvino
        finally:
            sys.modules.pop("openvino_telemetry", None)
    import openvino

    return openvino


def load(model_xml: Path, precision: str, threads: int) -> tuple[Any, int]:
    """An infer queue over the model compiled for throughput, and the number of streams OpenVINO chose.

    One stream per thread (OpenVINO decides how many), each running its own batch. Streams do not wait for each
    other, so a core taken by other work (parsing, Dagster's event writes) slows one stream instead of stalling
    every thread.
    """
    ov = import_openvino()
    config = {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "THROUGHPUT"}
    compiled = ov.Core().compile_model(str(model_xml), "CPU", config)
    streams = int(compiled.get_property("NUM_STREAMS"))
    return ov.AsyncInferQueue(compiled, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))), streams


def infer_all(
    infer_queue: Any,
    jobs: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    store: Callable[[np.ndarray, np.ndarray, np.ndarray], None],
    advance: Callable[[int], None],
) -> None:
    """Every job (rows, input_ids, attention_mask) in flight on the infer queue at once.

    As each request completes, on OpenVINO's threads, `store(rows, token_embeddings, attention_mask)` and then
    `advance(len(rows))` are called; the first exception `store` raised is raised once every request is done.
    """
    errors: list[BaseException] = []

    def completed(request: Any, job: tuple[np.ndarray, np.ndarray]) -> None:
        rows, attention_mask = job
        try:
            store(rows, request.get_output_tensor(0).data, attention_mask)
        except BaseException as exc:
            errors.append(exc)
        advance(len(rows))

    infer_queue.set_callback(completed)
    for rows, input_ids, attention_mask in jobs:
        infer_queue.start_async({"input_ids": input_ids, "attention_mask": attention_mask}, (rows, attention_mask))
    infer_queue.wait_all()
    if errors:
        raise errors[0]
