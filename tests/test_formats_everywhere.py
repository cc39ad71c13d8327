"""One file of every new format through every entry point: `ingestctl ingest` on a folder, the nightly
backfill on a folder, and the inbox sensor on a bucket."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from ingestion_assets.parsing import supported_suffixes
from resources.document_source import DocumentSource
from resources.lancedb_store import CHUNKS, LanceDBStore
from tests import mail_corpus, office_corpus, scan_corpus, sheets_corpus
from tests.conftest import REPO, execute_request, statuses
from tests.test_pipeline_s3 import bucket, run_all, tick  # noqa: F401  (fixture)
from tests.test_sensors import schedule_requests

pytest_plugins = ["tests.s3_server"]
pytestmark = pytest.mark.slow

FILES = {
    "reports/valves.docx": office_corpus.valve_docx,
    "reports/solar.pptx": office_corpus.solar_pptx,
    "reports/survey.odt": office_corpus.report_odt,
    "sheets/report.xlsx": sheets_corpus.report_xlsx,
    "sheets/sales.csv": lambda: sheets_corpus.SALES_CSV,
    "mail/harbour.eml": mail_corpus.harbour_message,
    "scans/pilotage.png": lambda: scan_corpus.image("png"),
    "scans/pilotage-sideways.pdf": lambda: scan_corpus.scanned_pdf((90,)),
    "notes/lighthouse.txt": mail_corpus.utf16_text,
}


def write_corpus(folder) -> list[str]:
    for key, make in FILES.items():
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make())
    return sorted(FILES)


def assert_every_format_searchable(store: LanceDBStore, keys: list[str]) -> None:
    chunks = store.read(CHUNKS, ["doc_id", "text"]).to_pylist()
    if not _ocr_available():  # scans are then ingested without text, with a warning
        keys = [k for k in keys if not k.startswith("scans/")]
    assert {c["doc_id"] for c in chunks} == set(keys), "every document has chunks"
    if _ocr_available():
        scanned = " ".join(c["text"] for c in chunks if c["doc_id"].startswith("scans/"))
        assert "pilotage" in scanned.lower(), "the scans were read by OCR"


def _ocr_available() -> bool:
    """Tesseract is there, or required (CI: INGEST_REQUIRE_TESSERACT=1, so a missing one fails)."""
    return shutil.which("tesseract") is not None or os.environ.get("INGEST_REQUIRE_TESSERACT") == "1"


def test_ingestctl_ingests_every_format_from_a_folder(tmp_path):
    inbox = tmp_path / "inbox"
    keys = write_corpus(inbox)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INGEST_", "LANCEDB_"))}
    env.update(PYTHONPATH=str(REPO), DAGSTER_HOME=str(tmp_path / "home"), LANCEDB_URI=str(tmp_path / "db"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())

    run = subprocess.run(
        [sys.executable, "-m", "ingestctl", "ingest", str(inbox)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(keys)} of {len(keys)} document(s) fully ingested" in run.stdout
    assert_every_format_searchable(LanceDBStore(uri=str(tmp_path / "db")), keys)


def test_nightly_backfill_ingests_every_format_from_a_folder(instance, store, inbox):
    keys = write_corpus(inbox)
    assert [f.key for f in DocumentSource(suffixes=supported_suffixes(), root_dir=str(inbox)).scan().files] == keys
    instance.add_dynamic_partitions("documents", keys)

    requests = schedule_requests(instance, inbox, store)

    assert requests and all(execute_request(instance, r).success for r in requests)
    assert set(statuses(instance, keys)["embeddings"].values()) == {"MATERIALIZED"}
    assert_every_format_searchable(store, keys)


def test_inbox_sensor_ingests_every_format_from_a_bucket(instance, bucket):  # noqa: F811
    for key, make in FILES.items():
        bucket.put(key, make())
    keys = sorted(FILES)

    result = tick(instance, bucket.source(), bucket.store())

    assert all(outcome.success for outcome in run_all(instance, result))
    assert set(statuses(instance, keys)["embeddings"].values()) == {"MATERIALIZED"}
    assert_every_format_searchable(bucket.store(), keys)
