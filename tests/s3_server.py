"""A real S3-compatible server for the object-storage tests: `moto_server`, started as a separate
process on a free 127.0.0.1 port and spoken to over HTTP by the real clients (boto3 for the document
source, LanceDB's own Rust client for the tables). No in-process mocks.

Test modules load the fixtures with `pytest_plugins = ["tests.s3_server"]`:

- `s3_server` (session): the running server, or a skip when it cannot start; with
  `INGEST_REQUIRE_OBJECT_STORE=1` (CI) that is a failure instead.
- `s3` (test): the same server with this test's AWS_* variables set (monkeypatch), exactly those a
  deployment sets: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
  AWS_ALLOW_HTTP=true. `s3.bucket()` creates a fresh bucket.

The server command is `INGEST_TEST_MOTO_SERVER` (split like a shell line, e.g.
`env PYTHONPATH=/tmp/s3pkgs /tmp/s3pkgs/bin/moto_server`), else the `moto_server` of this Python's
environment (the test extra), else `python -m moto.server` when moto is importable, else one on PATH.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shlex
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.local_server import LocalServerProcess

REQUIRE_ENV = "INGEST_REQUIRE_OBJECT_STORE"
COMMAND_ENV = "INGEST_TEST_MOTO_SERVER"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
START_TIMEOUT_S = 60.0

# Variables a developer's shell may hold that would point the clients elsewhere.
_CLEARED = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


class S3ServerUnavailable(RuntimeError):
    pass


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when the environment requires the object store (INGEST_REQUIRE_OBJECT_STORE=1)."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 requires it)", pytrace=False)
    pytest.skip(reason)


def moto_command() -> list[str] | None:
    configured = os.environ.get(COMMAND_ENV, "").strip()
    if configured:
        return shlex.split(configured)
    own = Path(sys.executable).parent / "moto_server"  # this venv's (the test extra), before any on PATH
    if own.exists():
        return [str(own)]
    if importlib.util.find_spec("moto") is not None:
        return [sys.executable, "-m", "moto.server"]
    found = shutil.which("moto_server")
    if found:
        return [found]
    return None


class S3Server(LocalServerProcess):
    """One moto_server process. `no_auth_actions` (moto's INITIAL_NO_AUTH_ACTION_COUNT) makes the
    server enforce authentication after that many requests: unknown keys then get a real 403."""

    def __init__(self, no_auth_actions: int | None = None) -> None:
        log = tempfile.NamedTemporaryFile(prefix="moto-server-", suffix=".log", delete=False)
        log.close()
        super().__init__("moto_server", Path(log.name))
        self.no_auth_actions = no_auth_actions

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The AWS_* variables that point both the document source and LanceDB at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout_s: float = START_TIMEOUT_S) -> S3Server:
        command = moto_command()
        if command is None:
            raise S3ServerUnavailable(
                "moto_server not found: install the test extra (moto[server]) or set "
                f"{COMMAND_ENV} to the command that starts it"
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["PYTHONUNBUFFERED"] = "1"
        if self.no_auth_actions is not None:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(self.no_auth_actions)
        self._start(
            lambda port: [*command, "-H", "127.0.0.1", "-p", str(port)],
            self._answers,
            S3ServerUnavailable,
            timeout_s,
            env,
        )
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    # ---- content ---------------------------------------------------------------------------------

    def client(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> Any:
        """A boto3 client bound explicitly to this server (independent of the environment)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}),
        )

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"t-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def put(self, bucket: str, key: str, data: bytes = b"x") -> None:
        self.client().put_object(Bucket=bucket, Key=key, Body=data)

    def put_many(self, bucket: str, keys: list[str], data: bytes = b"x", workers: int = 16) -> None:
        """Many tiny objects in parallel (moto accepts roughly 300 PUTs/s on one core)."""
        from concurrent.futures import ThreadPoolExecutor

        client = self.client()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=data), keys))


@contextlib.contextmanager
def running_s3_server(no_auth_actions: int | None = None) -> Iterator[S3Server]:
    """A server of the test's own (e.g. one that enforces authentication); skips if none can start."""
    server = S3Server(no_auth_actions)
    try:
        server.start()
    except S3ServerUnavailable as exc:
        server.stop()
        unavailable(f"no S3-compatible server: {exc}")
    try:
        yield server
    finally:
        server.stop()
        with contextlib.suppress(OSError):
            server.log_path.unlink()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


class S3Test:
    """The server as one test sees it: environment set, fresh buckets on demand."""

    def __init__(self, server: S3Server) -> None:
        self.server = server
        self.endpoint = server.endpoint

    def bucket(self, name: str | None = None) -> str:
        return self.server.create_bucket(name)

    def put(self, bucket: str, key: str, data: bytes = b"x") -> None:
        self.server.put(bucket, key, data)

    def client(self) -> Any:
        return self.server.client()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Test:
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return S3Test(s3_server)
