"""A server process the tests start on a free 127.0.0.1 port: started until it answers (again on another port
when another process took the first), its log kept, stopped."""

from __future__ import annotations

import contextlib
import shlex
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

PORT_ATTEMPTS = 3


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalServerProcess:
    """Subclasses name the server, give its command for a port and say when it answers."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_path = log_path
        self._log = open(log_path, "ab")  # closed in stop()

    def _start(
        self,
        command_for_port: Callable[[int], list[str]],
        answers: Callable[[], bool],
        unavailable: type[Exception],
        timeout_s: float,
        env: dict[str, str] | None = None,
    ) -> None:
        last_error = ""
        for _attempt in range(PORT_ATTEMPTS):  # another process may take the free port before the server binds it
            self.port = free_port()
            command = command_for_port(self.port)
            try:
                self.process = subprocess.Popen(
                    command,
                    stdout=self._log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                raise unavailable(f"cannot start {shlex.join(command)}: {exc}") from exc
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    last_error = f"{self.name} exited with {self.process.returncode}: {self.log_tail()}"
                    break
                if answers():
                    return
                time.sleep(0.1)
            else:
                self.stop()
                raise unavailable(f"{self.name} did not answer on 127.0.0.1:{self.port} within {timeout_s:.0f}s")
            if "in use" not in last_error.lower():
                break
        self.stop()
        raise unavailable(last_error or f"{self.name} did not start")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        with contextlib.suppress(OSError):
            self._log.close()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:].strip()
        except OSError:
            return ""
