"""`ingestctl metrics` end to end, and the failure classifier behind `ingest_document_failures`.

End to end: `ingestctl ingest` on a DAGSTER_HOME of its own (documents that work, two that fail, an
unsupported file, then a mass deletion that the guard holds), a real `dagster-daemon` for a few sensor
ticks, the exporter as a subprocess, and a real Prometheus scraping it every second with the example alert
rules loaded; the values are read back through Prometheus's HTTP API.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pymupdf
import pytest
import yaml

from ingestion_assets.failure_reasons import (
    CORRUPT,
    ENCRYPTED,
    OTHER,
    REASONS,
    SOURCE_UNREADABLE,
    TIMED_OUT,
    TOO_LARGE,
    UNSUPPORTED,
    classify,
)
from tests.conftest import REPO, SAMPLES
from tests.hostile_corpus import _pdf_bytes, big_pdf
from tests.local_server import free_port
from tests.prometheus_server import promtool, running_prometheus

ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
HELD = 12
"""Documents deleted at once after the first ingest: more than half of those known, and more than 10."""
NUL_TEXT = b"page one\x00\x00\x07\x00 \x00\x01\x02 not text at all" * 40
TRUNCATED_PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pa"


# ---- the classifier, on the messages the parsers and sources really produce ------------------------


def _parse_error(key: str, data: bytes, **limits) -> str:
    from ingestion_assets.parsing import ParseError, ParseLimits, parse_bytes

    with pytest.raises(ParseError) as caught:
        parse_bytes(key, data, ParseLimits(**limits))
    return str(caught.value)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


GOOD_PDF = (SAMPLES / "sourdough-bread.pdf").read_bytes()
PARSER_CASES = {
    "truncated.pdf": (GOOD_PDF[: len(GOOD_PDF) // 2], {}, CORRUPT),
    "truncated-header.pdf": (TRUNCATED_PDF, {}, CORRUPT),
    "random-bytes.pdf": (bytes(range(256)) * 16, {}, CORRUPT),
    "empty.pdf": (b"", {}, CORRUPT),
    "encrypted.pdf": (
        _pdf_bytes(["Secret."], encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", user_pw="user"),
        {},
        ENCRYPTED,
    ),
    "pages.pdf": (big_pdf(3), {"max_pages": 2}, TOO_LARGE),
    "slow.pdf": (big_pdf(3), {"max_seconds": -1.0}, TIMED_OUT),
    "nul.txt": (NUL_TEXT, {}, UNSUPPORTED),
    "elf.txt": (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8, {}, UNSUPPORTED),
    "x.exe": (b"MZ\x90\x00", {}, UNSUPPORTED),
    "plain.docx": (b"just some words, not a Word document", {}, UNSUPPORTED),
    "ole.docx": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), {}, ENCRYPTED),
    "broken.docx": (b"PK\x03\x04 this is no zip archive", {}, CORRUPT),
    "bomb.docx": (_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": bytes(8 << 20)}), {}, TOO_LARGE),
    "words.eml": (b"just words, no headers at all", {}, UNSUPPORTED),
    "empty.eml": (b"", {}, CORRUPT),
    "broken.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(64)), {}, CORRUPT),
    "text.png": (b"hello, I am not an image", {}, UNSUPPORTED),
}


@pytest.mark.parametrize("key", sorted(PARSER_CASES))
def test_classify_parser_errors(key):
    data, limits, expected = PARSER_CASES[key]

    error = _parse_error(key, data, **limits)

    assert classify(error) == expected, error
    assert classify(f"[documents] {error}") == expected, "latest_errors prefixes the phase"


def test_classify_source_errors(tmp_path):
    from resources.document_source import DocumentSource
    from resources.sources.base import FileChangedWhileReading

    root = tmp_path / "src"
    root.mkdir()
    (root / "big.txt").write_bytes(b"x" * 4096)
    (tmp_path / "outside.txt").write_text("outside")
    os.symlink(tmp_path / "outside.txt", root / "link.txt")
    os.mkfifo(root / "pipe.txt")
    source = DocumentSource(suffixes=[".txt"], root_dir=str(root), max_file_mb=0.001)

    def error_of(key: str) -> str:
        with pytest.raises((OSError, ValueError)) as caught:
            source.content_hash(key)
        return str(caught.value) or type(caught.value).__name__

    assert classify(error_of("corrupt and encrypted.txt")) == SOURCE_UNREADABLE, "the name is not the reason"
    assert classify(error_of("big.txt")) == TOO_LARGE
    assert classify(error_of("link.txt")) == UNSUPPORTED
    assert classify(error_of("pipe.txt")) == UNSUPPORTED
    assert classify(str(FileChangedWhileReading(str(root / "a.txt")))) == SOURCE_UNREADABLE
    assert classify(str(PermissionError(13, "Permission denied", str(root / "too slow.txt")))) == SOURCE_UNREADABLE
    assert classify(str(OSError(5, "Input/output error"))) == SOURCE_UNREADABLE


def test_classify_object_store_errors():
    from botocore import exceptions as bx

    from resources.object_store import translate_error

    url = "s3://bucket/corrupt/too large.pdf"

    def client_error(code: str, status: int) -> str:
        response = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return str(translate_error(bx.ClientError(response, "GetObject"), url, "read"))

    assert classify(client_error("AccessDenied", 403)) == SOURCE_UNREADABLE
    assert classify(client_error("NoSuchKey", 404)) == SOURCE_UNREADABLE
    assert classify(client_error("NoSuchBucket", 404)) == SOURCE_UNREADABLE
    assert classify(client_error("PreconditionFailed", 412)) == SOURCE_UNREADABLE
    assert classify(client_error("InternalError", 500)) == SOURCE_UNREADABLE
    timeout = translate_error(bx.ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), url, "read")
    assert classify(str(timeout)) == SOURCE_UNREADABLE, "an unreachable endpoint is not a parse time-out"


def test_classify_the_rest():
    assert classify(None) == OTHER
    assert classify("") == OTHER
    assert classify("[chunks] splitting failed: boom") == OTHER
    assert classify("[embeddings] no chunks in LanceDB; materialise `chunks` first") == OTHER
    assert classify("TimeoutError") == TIMED_OUT
    assert classify("FileNotFoundError") == SOURCE_UNREADABLE
    assert classify("something nobody wrote yet") == OTHER
    assert len(set(REASONS)) == len(REASONS) == 7


def test_counted_jobs_and_sensors_exist():
    from ingestctl.metrics import SHARED_JOBS, SHARED_SENSORS
    from tests.conftest import current_definitions

    definitions = current_definitions()
    assert set(SHARED_JOBS) <= {job.name for job in definitions.resolve_all_job_defs()}
    assert set(SHARED_SENSORS) <= {sensor.name for sensor in definitions.get_repository_def().sensor_defs}


def test_listen_address():
    from ingestctl.metrics import parse_listen

    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    assert parse_listen(":9464") == ("0.0.0.0", 9464)
    for bad in ("9464", "host:", "host:port", "host:70000"):
        with pytest.raises(ValueError):
            parse_listen(bad)


# ---- the collector, in this process ---------------------------------------------------------------


def _scrape(registry) -> dict[tuple[str, tuple], float]:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_statuses_read_once_match_dagsters(instance):
    import dagster as dg

    from ingestion_assets.dagster_compat import phase_status_sets
    from ingestion_assets.keys import CHUNKS_KEY, DOCUMENTS_KEY
    from ingestion_assets.records import Status, phase_statuses, register_partitions, registered_partitions

    register_partitions(instance, [f"doc-{i}.txt" for i in range(6)])
    for doc in ("doc-1.txt", "doc-2.txt", "doc-4.txt"):
        instance.report_runless_asset_event(dg.AssetMaterialization(DOCUMENTS_KEY, partition=doc))
    instance.report_runless_asset_event(dg.AssetMaterialization(CHUNKS_KEY, partition="doc-2.txt"))

    keys, sets = phase_status_sets(instance)

    assert keys == registered_partitions(instance)
    public = phase_statuses(instance, keys)
    for key, by_doc in public.items():
        for status in (Status.MATERIALIZED, Status.FAILED, Status.IN_PROGRESS):
            assert sets[key][status] == {d for d, s in by_doc.items() if s == status}, (key, status)
    assert sets[DOCUMENTS_KEY][Status.MATERIALIZED] == {"doc-1.txt", "doc-2.txt", "doc-4.txt"}


def test_a_group_that_fails_does_not_fail_the_scrape(instance, store, capfd):
    import lancedb

    from ingestctl.instance import CliContext
    from ingestctl.metrics import GROUPS, build_registry

    lancedb.connect(store.uri).create_table("embeddings", data=[{"x": 1}])
    for manifest in Path(store.uri, "embeddings.lance", "_versions").iterdir():
        manifest.write_bytes(b"garbage\n")  # a damaged table: LanceDB cannot read its stats

    samples = _scrape(build_registry(CliContext.from_env()))

    errors = {
        dict(labels)["group"]: value for (name, labels), value in samples.items() if name == "ingest_scrape_errors"
    }
    assert errors == {group: (1.0 if group == "lancedb" else 0.0) for group in GROUPS}
    assert "ingestctl metrics: lancedb:" in capfd.readouterr().err
    missing = ("ingest_documents", (("phase", "documents"), ("source", "default"), ("state", "missing")))
    assert samples[missing] == 0
    assert not any(name == "ingest_lancedb_table_rows" for name, _ in samples)
    assert samples[("ingest_held_deletions", (("source", "default"),))] == 0
    assert samples[("ingest_oldest_queued_run_age_seconds", ())] == 0


# ---- the alert rules --------------------------------------------------------------------------------


def test_alert_rules_and_config_pass_promtool():
    tool = promtool()
    rules = subprocess.run([tool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = subprocess.run([tool, "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True)
    assert config.returncode == 0, config.stdout + config.stderr


# ---- end to end ---------------------------------------------------------------------------------------


def _ingestctl(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingestctl", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def _stop(process: subprocess.Popen | None, group: bool = False) -> None:
    if process is None or process.poll() is not None:
        return
    if group:
        os.killpg(process.pid, signal.SIGKILL)
    else:
        process.kill()
    process.wait(timeout=30)


def _wait_for_line(process: subprocess.Popen, log: Path, marker: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if marker in text:
            return text
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}:\n{text[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"no {marker!r} within {timeout_s:.0f}s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.mark.slow
def test_exporter_scraped_by_prometheus(tmp_path):
    src, home = tmp_path / "src", tmp_path / "home"
    src.mkdir()
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    for sample in SAMPLES.glob("*.md"):
        shutil.copy(sample, src)
    good = len(list(src.iterdir()))
    notes = src / "notes"
    notes.mkdir()
    for i in range(HELD):
        (notes / f"note-{i:02d}.txt").write_text(f"Field note {i}: the tide turned at dusk and the gulls came back.")
    (src / "zeros.txt").write_bytes(NUL_TEXT)
    (src / "broken.pdf").write_bytes(TRUNCATED_PDF)
    (src / "x.exe").write_bytes(b"MZ\x90\x00 not for us")
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "LANCEDB_URI", "INGEST_SOURCE_DIR")}
    env.update(
        PYTHONPATH=str(REPO),
        DAGSTER_HOME=str(home),
        LANCEDB_URI=str(tmp_path / "lancedb"),
        INGEST_SOURCE_DIR=str(src),
        HF_HUB_OFFLINE="1",
    )

    first = _ingestctl("ingest", env=env, cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    shutil.rmtree(notes)  # most of the known documents vanish at once: the guard holds their purge
    second = _ingestctl("ingest", env=env, cwd=tmp_path)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "deletions held" in second.stderr

    port = free_port()
    daemon = exporter = None
    daemon_log, exporter_log = tmp_path / "daemon.log", tmp_path / "exporter.log"
    try:
        # A real daemon ticks the sensors (interval 1 s) while the exporter and Prometheus start.
        with open(daemon_log, "wb") as out:
            daemon = subprocess.Popen(
                [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(REPO / "workspace.yaml")],
                cwd=REPO,
                env={**env, "INGEST_SENSOR_INTERVAL_S": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with open(exporter_log, "wb") as out:
            exporter = subprocess.Popen(
                [sys.executable, "-m", "ingestctl", "metrics", "--listen", f"127.0.0.1:{port}"],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        listening = _wait_for_line(exporter, exporter_log, "serving http://", 60)
        assert f"http://127.0.0.1:{port}/metrics" in listening
        assert len(listening.strip().splitlines()) == 1, "one line saying where it listens"

        with running_prometheus([f"127.0.0.1:{port}"], [ALERTS]) as prometheus:
            prometheus.wait_for('up{job="ingest"} == 1')
            prometheus.wait_for("ingest_document_failures", timeout_s=30)

            def value(expr: str) -> float | None:
                return prometheus.value(expr)

            for phase in ("documents", "chunks", "embeddings"):
                materialized = f'ingest_documents{{source="default",phase="{phase}",state="materialized"}}'
                assert value(materialized) == good + HELD, phase
                assert value(f'ingest_documents{{phase="{phase}",state="failed"}}') == 2, phase
                assert value(f'ingest_documents{{phase="{phase}",state="missing"}}') == 0, phase
            assert value('ingest_document_failures{phase="documents",reason="corrupt"}') == 1, "the truncated PDF"
            assert value('ingest_document_failures{phase="documents",reason="unsupported"}') == 1, "the NUL bytes"
            assert value("sum(ingest_document_failures)") == 2, "each failed document counted once"
            assert value('ingest_skipped_files{source="default",reason="unsupported_type"}') == 1
            assert value('ingest_skipped_files{reason="hidden"}') == 0
            assert value('ingest_lancedb_table_rows{table="embeddings"}') > 0
            assert value('ingest_lancedb_table_rows{table="documents"}') == good + HELD
            assert value('ingest_lancedb_table_fragments{table="chunks"}') >= 1
            assert value('ingest_lancedb_table_version{table="chunks"}') >= 1
            assert value('ingest_embeddings_rows{source="default"}') == value(
                'ingest_lancedb_table_rows{table="embeddings"}'
            )
            assert len(prometheus.query("ingest_runs")) == 4 * 3
            assert value('ingest_runs{dagster_job="ingest_job",status="queued"}') == 0
            assert value("ingest_oldest_queued_run_age_seconds") == 0
            assert value('ingest_last_success_timestamp_seconds{source="default"}') > 0, (
                "both runs failed on a bad file, yet documents reached the embeddings table"
            )
            assert 0 <= value("ingest_seconds_since_last_success") < 600
            assert value('ingest_last_embedded_chunks{source="default"}') > 0
            assert value("ingest_last_embedding_chunks_per_second") > 0
            assert value('ingest_held_deletions{source="default"}') == HELD
            assert value("sum(ingest_scrape_errors)") == 0
            assert value("ingest_scrape_duration_seconds") > 0
            series = prometheus.query('{__name__=~"ingest_.*"}')
            names = {s["metric"]["__name__"] for s in series}
            labels = {v for s in series for v in s["metric"].values()}
            assert not labels & {"zeros.txt", "broken.pdf", "x.exe", "beekeeping.md"}, "no file names in labels"

            for sensor in ("inbox_sensor", "dead_run_sensor"):
                prometheus.wait_for(
                    f'ingest_sensor_last_tick_status{{sensor="{sensor}",status="skipped"}} == 1', timeout_s=60
                )
                assert value(f'sum(ingest_sensor_last_tick_status{{sensor="{sensor}"}})') == 1
                assert value(f'ingest_sensor_last_tick_timestamp_seconds{{sensor="{sensor}"}}') > 0
                assert value(f'ingest_sensor_last_tick_seconds{{sensor="{sensor}"}}') >= 0
            prometheus.wait_for(f'ingest_sensor_held_deletions{{sensor="inbox_sensor"}} == {HELD}')
            assert value('ingest_sensor_last_evaluation_seconds{sensor="inbox_sensor"}') >= 0
            _stop(daemon, group=True)

            expected = yaml.safe_load(ALERTS.read_text())["groups"]
            loaded = prometheus.rules()
            assert sorted(g["name"] for g in loaded) == sorted(g["name"] for g in expected)
            assert sum(len(g["rules"]) for g in loaded) == sum(len(g["rules"]) for g in expected)
            assert all(r["health"] in ("ok", "unknown") for g in loaded for r in g["rules"]), loaded

            def active(alerts: list) -> set[str]:
                return {a["labels"]["alertname"] for a in alerts if a["state"] in ("pending", "firing")}

            deadline = time.monotonic() + 20
            while not {"IngestDeletionHeld", "IngestDocumentsFailing"} <= active(prometheus.alerts()):
                assert time.monotonic() < deadline, prometheus.alerts()
                time.sleep(0.5)
            assert "IngestExporterDown" not in active(prometheus.alerts())
            assert {"ingest_runs", "ingest_oldest_queued_run_age_seconds", "ingest_scrape_duration_seconds"} <= names

        exporter.send_signal(signal.SIGTERM)
        assert exporter.wait(timeout=30) == 0, exporter_log.read_text(errors="replace")[-3000:]
    finally:
        _stop(daemon, group=True)
        _stop(exporter)
        if os.environ.get("METRICS_SHOW_LOG"):
            print(daemon_log.read_text(errors="replace")[-5000:] if daemon_log.exists() else "")
            print(exporter_log.read_text(errors="replace")[-5000:] if exporter_log.exists() else "")
