"""A real Prometheus server for the metrics tests: Debian's `prometheus`, started as a separate process on a
free 127.0.0.1 port with a temporary configuration (scrape interval 1 s) and a temporary TSDB, spoken to
over its HTTP API. No in-process stand-in.

- `running_prometheus(targets, rule_files)`: a context manager yielding the running server, or a skip
  when it cannot start; with `INGEST_REQUIRE_PROMETHEUS=1` (CI) that is a failure instead.
- `PrometheusServer.query(expr)`: the instant-query result (`/api/v1/query`); `value(expr)` the single
  sample's value; `wait_for(expr, ...)` polls until a predicate holds; `rules()` and `alerts()` read
  `/api/v1/rules` and `/api/v1/alerts`.
- `promtool()`: the `promtool` command, or the same skip / failure when it is missing.

The binaries are `INGEST_TEST_PROMETHEUS` and `INGEST_TEST_PROMTOOL` when set, else the ones on PATH.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.local_server import LocalServerProcess

REQUIRE_ENV = "INGEST_REQUIRE_PROMETHEUS"
COMMAND_ENV = "INGEST_TEST_PROMETHEUS"
PROMTOOL_ENV = "INGEST_TEST_PROMTOOL"
JOB = "ingest"
"""The scrape job of the exporter: the `job` label deploy/prometheus/alerts.yml expects."""
START_TIMEOUT_S = 60.0


class PrometheusUnavailable(RuntimeError):
    pass


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when the environment requires Prometheus (INGEST_REQUIRE_PROMETHEUS=1)."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 requires it)", pytrace=False)
    pytest.skip(reason)


def _binary(env: str, name: str) -> str | None:
    return os.environ.get(env, "").strip() or shutil.which(name)


def promtool() -> str:
    """The promtool binary (Debian's `prometheus` package ships it), or skip / fail."""
    found = _binary(PROMTOOL_ENV, "promtool")
    if found is None:
        unavailable(f"promtool not found: install Debian's prometheus package or set {PROMTOOL_ENV}")
    return found


class PrometheusServer(LocalServerProcess):
    """One prometheus process scraping `targets` (host:port) every second, loading `rule_files`."""

    def __init__(self, targets: Sequence[str], rule_files: Sequence[Path] = ()) -> None:
        self.targets = list(targets)
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.workdir = Path(tempfile.mkdtemp(prefix="prometheus-test-"))
        super().__init__("prometheus", self.workdir / "prometheus.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        return {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": self.targets}]}],
        }

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout_s: float = START_TIMEOUT_S) -> PrometheusServer:
        binary = _binary(COMMAND_ENV, "prometheus")
        if binary is None:
            raise PrometheusUnavailable(
                f"prometheus not found: install Debian's prometheus package or set {COMMAND_ENV} to the binary"
            )
        config = self.workdir / "prometheus.yml"
        config.write_text(json.dumps(self.config(), indent=2))  # JSON is YAML
        self._start(
            lambda port: [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            self._ready,
            PrometheusUnavailable,
            timeout_s,
        )
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def api(self, path: str, **params: str) -> Any:
        """The `data` of a successful API answer."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:
            body = json.loads(response.read())
        if body.get("status") != "success":
            raise AssertionError(f"Prometheus API {path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of `expr` now: [{"metric": {labels}, "value": [time, "value"]}, ...]."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            raise AssertionError(f"{expr!r} is a {data['resultType']}, not an instant vector")
        return data["result"]

    def value(self, expr: str) -> float | None:
        """The value of the one sample of `expr`, None when it has none; more than one is an error."""
        result = self.query(expr)
        if len(result) > 1:
            raise AssertionError(f"{expr!r} has {len(result)} samples: {result}")
        return float(result[0]["value"][1]) if result else None

    def wait_for(
        self, expr: str, predicate: Callable[[list[dict[str, Any]]], bool] = bool, timeout_s: float = 30.0
    ) -> list[dict[str, Any]]:
        """Poll `expr` until `predicate(result)` holds (by default: any sample)."""
        deadline = time.monotonic() + timeout_s
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if predicate(result):
                return result
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {expr!r}; last result {result}")

    def rules(self) -> list[dict[str, Any]]:
        return self.api("rules")["groups"]

    def alerts(self) -> list[dict[str, Any]]:
        return self.api("alerts")["alerts"]

    def targets_health(self) -> list[dict[str, Any]]:
        return self.api("targets")["activeTargets"]


@contextlib.contextmanager
def running_prometheus(targets: Sequence[str], rule_files: Sequence[Path] = ()) -> Iterator[PrometheusServer]:
    """A Prometheus of the test's own scraping `targets`; skips (or fails) when it cannot start."""
    server = PrometheusServer(targets, rule_files)
    try:
        server.start()
    except PrometheusUnavailable as exc:
        server.stop()
        server.cleanup()
        unavailable(f"no Prometheus server: {exc}")
    try:
        yield server
    finally:
        server.stop()
        server.cleanup()
