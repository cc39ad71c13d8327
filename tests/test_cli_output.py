"""What `ingestctl ingest` prints: a progress bar on a terminal, plain lines through a pipe, each document's failure
once (in the summary, never as a stack trace), Dagster's lines only when asked, JSON for scripts; and an error
that is not a document's, with its traceback."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion_assets.keys import PHASE_KEYS
from tests.conftest import REPO, SAMPLES

pytestmark = pytest.mark.slow

NUL_REASON = "binary content (NUL bytes), not text"
PDF_REASON = "truncated PDF: the file ends before its %%EOF marker"


@pytest.fixture
def work(tmp_path) -> tuple[Path, dict[str, str]]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLES / "beekeeping.md", inbox / "beekeeping.md")
    shutil.copy(SAMPLES / "tidal-energy.txt", inbox / "tidal-energy.txt")
    (inbox / "bad.txt").write_bytes(b"\x00\x01 not text")
    (inbox / "broken.pdf").write_bytes(b"%PDF-1.4 half a file")
    (tmp_path / "home").mkdir()
    shutil.copy(REPO / "dagster.yaml", tmp_path / "home" / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INGEST_", "LANCEDB_", "DAGSTER_HOME"))}
    env.update(
        PYTHONPATH=str(REPO),
        DAGSTER_HOME=str(tmp_path / "home"),
        LANCEDB_URI=str(tmp_path / "db"),
        INGEST_SOURCE_DIR=str(inbox),
    )
    return tmp_path, env


def ingestctl(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingestctl", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def under_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run a command with a pseudo-terminal as its stdout and stderr; (exit code, everything it wrote)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(args, env=env, cwd=cwd, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    written = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the command exited and closed the terminal
                break
            if not data:
                break
            written += data
        elif process.poll() is not None:
            break
    os.close(leader)
    return process.wait(timeout=60), written.decode(errors="replace")


def test_through_a_pipe_failures_appear_once_and_dagster_stays_quiet(work):
    tmp_path, env = work
    result = ingestctl("ingest", env=env, cwd=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    everything = result.stdout + result.stderr
    assert "dagster - " not in everything and "Stack Trace" not in everything
    assert everything.count(NUL_REASON) == 1 and everything.count(PDF_REASON) == 1
    assert "2 of 4 document(s) fully ingested, 2 not" in result.stdout
    progress = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    assert progress and progress[-1].startswith("progress: 4 of 4 document(s), run 1 of 1"), result.stderr
    assert "\r" not in everything, "no bar drawn into a pipe"

    verbose = ingestctl("ingest", "bad.txt", "--log-level", "INFO", env=env, cwd=tmp_path)
    assert verbose.returncode == 2  # bad.txt is a file, not a folder: the source cannot be used
    (tmp_path / "inbox" / "beekeeping.md").write_text("# Bees\n\nA short note on swarming in May.\n")
    verbose = ingestctl("ingest", "--log-level", "INFO", env=env, cwd=tmp_path)
    assert "dagster - INFO" in verbose.stdout + verbose.stderr, "Dagster's own lines when asked for"


def test_on_a_terminal_a_progress_bar_is_drawn(work):
    tmp_path, env = work
    code, written = under_a_terminal([sys.executable, "-m", "ingestctl", "ingest"], env, tmp_path)

    assert code == 1, written
    assert "\r▕" in written and "\x1b[K" in written, written
    assert "▕" + "█" * 10 in written, "the bar fills"
    assert "4 of 4 document(s), run 1 of 1" in written
    assert "Stack Trace" not in written and written.count(NUL_REASON) == 1
    lines = written.replace("\r\n", "\n").split("\n")
    summary = next(line for line in lines if "fully ingested" in line)
    assert not summary.startswith("\r"), "the bar's line is ended before the summary"


def test_json_for_scripts(work):
    tmp_path, env = work
    result = ingestctl("ingest", "--json", env=env, cwd=tmp_path)

    summary = json.loads(result.stdout)
    assert result.returncode == summary["exit_code"] == 1
    assert (summary["documents"], summary["fully_ingested"], summary["runs"]) == (4, 2, 1)
    errors = {doc["doc_id"]: doc["error"] for doc in summary["failed"]}
    assert NUL_REASON in errors["bad.txt"] and PDF_REASON in errors["broken.pdf"]
    assert summary["held_deletions"] is None and summary["purged"] == []
    assert "progress: " not in result.stderr, "no progress for scripts"

    (tmp_path / "inbox" / "tidal-energy.txt").unlink()
    again = json.loads(ingestctl("ingest", "--json", env=env, cwd=tmp_path).stdout)
    assert again["purged"] == ["tidal-energy.txt"]
    assert again["processed"] == 2, "the two failed documents are retried, nothing else"


def test_an_error_that_is_not_a_documents_prints_its_traceback(instance, inbox, capsys):
    from ingestctl.runs import execute_plans
    from ingestion_assets.planning import plan_runs
    from ingestion_assets.records import register_partitions

    shutil.copy(SAMPLES / "beekeeping.md", inbox / "beekeeping.md")
    register_partitions(instance, ["beekeeping.md"])
    plans = plan_runs(["beekeeping.md"], {"beekeeping.md": PHASE_KEYS}, 10)
    unwritable = {"resources": {"lancedb": {"config": {"uri": "/proc/self/no-such-dir/lancedb"}}}}

    outcomes = execute_plans(instance, plans, "progress", "test", unwritable, show_progress=False)

    assert outcomes == [False]
    err = capsys.readouterr().err
    assert "[run 1/1]: unexpected error, not a document's failure" in err
    assert "Stack Trace" in err and "/proc/self/no-such-dir" in err
