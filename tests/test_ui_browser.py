"""The Dagster UI in a real browser (headless Debian Chromium driven by Playwright), over an instance
that `ingestctl ingest` filled with three good documents and one broken PDF: the asset graph and
its checks, each document's status on the Partitions tab, a one-partition materialisation launched
from the UI and executed by the daemon, and that materialisation's metadata.

Screenshots of every step go to test-artifacts/ui/; with UPDATE_DOCS_SCREENSHOTS=1 the ones
docs/ui.md shows are also written to docs/screenshots/. Needs `/usr/bin/chromium` (`apt-get install
chromium`, or set CHROMIUM): Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pytest

from tests.conftest import REPO, SAMPLES

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
ARTIFACTS = REPO / "test-artifacts" / "ui"
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
GOOD = ("beekeeping.md", "lighthouse-keeping.pdf", "tidal-energy.txt")
BROKEN = "broken.pdf"
RELAUNCHED = "tidal-energy.txt"
GRAPH_NODES = (
    "source_files",
    "source_deletions",
    "documents",
    "chunks",
    "embeddings",
    "lancedb_maintenance",
    "ingestion_report",
)
UI_TIMEOUT_MS = 30_000
RUN_TIMEOUT_S = 180


@dataclass
class DagsterUI:
    base_url: str
    home: Path
    logs: Path
    browser: Browser
    page: Page

    def open(self, path: str, page: Page | None = None) -> None:
        (page or self.page).goto(self.base_url + path)

    def shot(self, name: str, docs_name: str | None = None, page: Page | None = None) -> None:
        """Screenshot into test-artifacts/ui/ and, with UPDATE_DOCS_SCREENSHOTS=1, into docs/screenshots/."""
        page = page or self.page
        page.mouse.move(0, 0)  # no hover tooltip in the picture
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path))
        if docs_name and os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, DOCS_SCREENSHOTS / f"{docs_name}.png")

    def log_tail(self, chars: int = 6000) -> str:
        return "\n".join(f"--- {f.name}\n{f.read_text()[-chars:]}" for f in sorted(self.logs.glob("*.log")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A console script of this venv in its own process group (it spawns code servers and run workers)."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name(args[0])), *args[1:]],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the whole process group, SIGKILL what is left after 20 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=20)


def _wait_for_webserver(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dagster-webserver exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"dagster-webserver did not answer {url}/server_info within {timeout:.0f} s")


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> Iterator[DagsterUI]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} not found: CI must `apt-get install -y chromium`")
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    tmp = tmp_path_factory.mktemp("ui")
    home, inbox, logs = tmp / "dagster_home", tmp / "inbox", tmp / "logs"
    for folder in (home, inbox, logs):
        folder.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    for name in GOOD:
        shutil.copy(SAMPLES / name, inbox / name)
    (inbox / BROKEN).write_bytes(b"%PDF-1.4 not a pdf")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(
        DAGSTER_HOME=str(home),
        LANCEDB_URI=str(tmp / "lancedb"),
        INGEST_SOURCE_DIR=str(inbox),
        PYTHONPATH=str(REPO),
        HF_HUB_OFFLINE="1",
    )

    ingest = subprocess.run(
        [sys.executable, "-m", "ingestctl", "ingest"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert ingest.returncode == 1, ingest.stdout + ingest.stderr
    assert "3 of 4 document(s) fully ingested" in ingest.stdout, ingest.stdout

    # dagster.yaml's `concurrency` section selects the QueuedRunCoordinator: a run launched from the
    # UI stays QUEUED until the daemon dequeues it, so the webserver alone is not enough.
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    workspace = str(REPO / "workspace.yaml")
    webserver = _start(
        ["dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-w", workspace], env, logs / "webserver.log"
    )
    daemon = None
    try:
        daemon = _start(["dagster-daemon", "run", "-w", workspace], env, logs / "daemon.log")
        _wait_for_webserver(base_url, webserver, timeout=120)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(UI_TIMEOUT_MS)
                expect.set_options(timeout=UI_TIMEOUT_MS)
                # What "Skip" on the first visit's community dialog records, so it never covers the page.
                page.request.post(base_url + "/graphql", data={"query": "mutation { setNuxSeen }"})
                yield DagsterUI(base_url, home, logs, browser, page)
            finally:
                browser.close()
    finally:
        for process in (daemon, webserver):
            if process is not None:
                _stop(process)


def metadata_value(page: Page, key: str) -> str:
    """The value cell of the metadata table row whose key is `key`."""
    row = page.locator("tr").filter(has=page.get_by_role("cell", name=key, exact=True))
    return row.first.get_by_role("cell").nth(1).inner_text().strip()


def test_asset_graph_shows_the_assets_and_their_checks(ui: DagsterUI):
    from playwright.sync_api import expect

    # A wide, short, high-density page: the whole graph readable in one picture for the docs.
    graph = ui.browser.new_page(viewport={"width": 1500, "height": 520}, device_scale_factor=2)
    try:
        ui.open("/locations/rag_ingestion/asset-groups/ingestion", page=graph)
        expect(graph.get_by_text("ingestion_report", exact=True).first).to_be_visible()
        graph.get_by_role("button", name="Hide navigation").click()
        # Zoomed to fit, nodes show only their names; two steps in they show partitions and checks.
        zoom_in = graph.locator("button:has([aria-label='zoom_in'])")
        for _ in range(2):
            zoom_in.click()
        for name in GRAPH_NODES:
            expect(graph.get_by_text(name, exact=True).first).to_be_visible()
        expect(graph.get_by_text("75% filled (1 failed)")).to_have_count(3)
        expect(graph.get_by_text("Asset checks")).to_have_count(len(GRAPH_NODES))
        _center_graph(graph)
        ui.shot("01-asset-graph", docs_name="asset-graph", page=graph)
    finally:
        graph.close()

    page = ui.page
    ui.open("/assets/ingestion_report?view=checks")
    expect(page.get_by_text("Checks (4)")).to_be_visible()
    for check in ("parity", "orphans", "reconcile", "vectors"):
        expect(page.get_by_text(check, exact=True).first).to_be_visible()
    ui.shot("02-report-checks")


def _center_graph(page: Page) -> None:
    """Drag the graph so that its row of nodes sits between the page header's left edge and the zoom controls."""
    first, second, last = (
        page.get_by_text(name, exact=True).last.bounding_box() for name in ("documents", "chunks", GRAPH_NODES[-1])
    )
    pitch = second["x"] - first["x"]  # node width plus the gap between nodes
    left, right = first["x"] - 0.1 * pitch, last["x"] + 0.8 * pitch
    area_left = page.get_by_role("tab", name="Lineage").bounding_box()["x"] - 24
    area_right = page.locator("button:has([aria-label='zoom_in'])").bounding_box()["x"]
    dx = (area_left + area_right) / 2 - (left + right) / 2
    y = first["y"] + 200
    page.mouse.move(700, y)
    page.mouse.down()
    page.mouse.move(700 + dx, y, steps=10)
    page.mouse.up()


def test_partitions_tab_shows_each_documents_status(ui: DagsterUI):
    from playwright.sync_api import expect

    page = ui.page
    ui.open("/assets/embeddings?view=partitions")
    expect(page.get_by_text("4 Partitions Selected")).to_be_visible()
    expect(page.get_by_text("Failed (1)")).to_be_visible()
    expect(page.get_by_text("Materialized (3)")).to_be_visible()
    for name in (*GOOD, BROKEN):
        expect(page.get_by_text(name, exact=True).first).to_be_visible()

    # The state filters: with only "Failed" ticked the list is the broken PDF, without it the others.
    for label in ("Materialized (3)", "Materializing (0)", "Missing (0)"):
        page.get_by_text(label).click()
    expect(page.get_by_text("1 Partitions Selected")).to_be_visible()
    expect(page.get_by_text(BROKEN, exact=True).first).to_be_visible()
    for name in GOOD:
        expect(page.get_by_text(name, exact=True)).to_have_count(0)
    page.get_by_text("Failed (1)").click()
    page.get_by_text("Materialized (3)").click()
    expect(page.get_by_text("3 Partitions Selected")).to_be_visible()
    for name in GOOD:
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    expect(page.get_by_text(BROKEN, exact=True)).to_have_count(0)

    ui.open("/assets/embeddings?view=partitions")
    page.get_by_text(BROKEN, exact=True).first.click()
    expect(page.get_by_text(re.compile(r"Run [0-9a-f]{8} failed, and did not materialize this asset"))).to_be_visible()
    ui.shot("03-embeddings-partitions", docs_name="partitions-status")

    # Why it failed: the observation on the phase that failed (documents), on that asset's Events tab.
    ui.open("/assets/documents?view=events")
    page.get_by_text(BROKEN, exact=True).first.click()
    expect(page.get_by_text(f"Partition {BROKEN} observed in run")).to_be_visible()
    assert "PDF" in metadata_value(page, "error")
    assert metadata_value(page, "phase") == "documents"
    ui.shot("04-failure-reason")


def test_materialize_one_partition_from_the_ui_and_read_its_metadata(ui: DagsterUI):
    from playwright.sync_api import expect

    page = ui.page
    ui.open("/assets/embeddings?view=partitions")
    expect(page.get_by_text(RELAUNCHED, exact=True).first).to_be_visible()
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Launch runs to materialize embeddings")).to_be_visible()
    dialog.get_by_text("Select a partition or create one").click()
    page.get_by_placeholder("Filter partitions").fill(RELAUNCHED)
    page.locator("label").filter(has_text=RELAUNCHED).first.click()
    dialog.get_by_text("Launch runs to materialize embeddings").click()  # closes the partition picker
    expect(page.get_by_placeholder("Filter partitions")).to_be_hidden()
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    ui.shot("05-launch-one-partition")
    dialog.get_by_role("button", name="Launch 1 run").click()

    expect(page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))).to_be_visible()
    page.get_by_role("link", name="View", exact=True).click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    run_id = page.url.split("/runs/")[1].split("?")[0]

    with dg.DagsterInstance.from_config(str(ui.home)) as instance:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        run = instance.get_run_by_id(run_id)
        while not run.is_finished and time.monotonic() < deadline:
            time.sleep(2)
            run = instance.get_run_by_id(run_id)
    assert run.status == dg.DagsterRunStatus.SUCCESS, f"run {run_id} is {run.status.value}\n{ui.log_tail()}"
    assert run.tags.get("dagster/partition") == RELAUNCHED
    assert run.tags.get("dagster/from_ui") == "true"
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    ui.shot("06-run-success")

    ui.open("/assets/embeddings?view=partitions")
    page.get_by_text(RELAUNCHED, exact=True).first.click()
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    expect(page.get_by_text(run_id[:8], exact=True).first).to_be_visible()
    assert int(metadata_value(page, "vectors")) == int(metadata_value(page, "dagster/partition_row_count")) > 0
    assert metadata_value(page, "dimensions") == "384"
    assert metadata_value(page, "model") == "sentence-transformers/all-MiniLM-L6-v2"
    ui.shot("07-materialization-metadata", docs_name="materialization-metadata")

    ui.open(f"/assets/chunks?view=partitions&partition={RELAUNCHED}")
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    assert int(metadata_value(page, "chunks")) == int(metadata_value(page, "dagster/partition_row_count")) > 0
    assert int(metadata_value(page, "tokens_max")) <= 200
    expect(page.get_by_role("cell", name="preview", exact=True)).to_be_visible()
    ui.shot("08-chunks-metadata")
