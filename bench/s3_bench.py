#!/usr/bin/env python
"""Object storage benchmark: the inbox sensor over a bucket, and cold ingestion from a bucket versus a folder.

Sections (all by default, or a subset with --only):
  tick  `inbox_sensor` over N objects under s3://bench-docs/inbox/ (LanceDB on s3://bench-vectors/),
        for each N of --sizes: one listing alone (DocumentSource.scan), then --ticks steady-state
        ticks (every object registered and stored: nothing to do), median reported. At the first
        size, the first tick (every object new) is measured too. The sensor's evaluation budget in
        the daemon is 60 s (Dagster's sensor gRPC timeout, DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS).
  cold  `ingestctl ingest` of the bench corpus (bench/corpus.py generate(folder, --docs, seed 7)),
        once with the folder and LanceDB local, once with both on the bucket; wall time and ratio.

The server is the one the AWS_* environment names (AWS_ENDPOINT_URL...), or else a `moto_server`
started here on 127.0.0.1 (tests/s3_server.py; needs the test extra). Moto lists a bucket by
iterating and sorting every key of the bucket for each 1,000-key page, so its listing time grows
with the square of the bucket size; S3 pages do not. Timings on moto are an upper bound for the
client side of a tick, not a prediction for S3.

Usage::

    python bench/s3_bench.py [--sizes 10000,20000,50000,100000] [--ticks 3] [--docs 200] [--only tick,cold]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.corpus import generate  # noqa: E402
from bench.measure import dagster_home, measure, text_document_row  # noqa: E402

PY = sys.executable
SECTIONS = ["tick", "cold"]
DOCS_BUCKET, VECTORS_BUCKET = "bench-docs", "bench-vectors"


def _client():
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        config=Config(
            s3={"addressing_style": "path" if endpoint else "virtual"},
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=32,
        ),
    )


def _ensure_bucket(client, name: str) -> None:
    try:
        client.head_bucket(Bucket=name)
    except Exception:
        client.create_bucket(Bucket=name)


def _put_many(client, bucket: str, items: list[tuple[str, bytes]], workers: int = 16) -> None:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), items))


def _note(i: int) -> tuple[str, bytes]:
    return f"batch-{i // 1000:04d}/note-{i:06d}.txt", f"note {i}".encode()


def tick_section(work: Path, sizes: list[int], ticks: int) -> list[dict]:
    """Steady-state sensor ticks at growing bucket sizes (objects are added between sizes)."""
    import dagster as dg

    from ingestion_assets.definitions import build_definitions
    from ingestion_assets.keys import documents_partitions
    from ingestion_assets.parsing import supported_suffixes
    from ingestion_assets.records import PARTITION_ADD_CHUNK
    from resources.document_source import DocumentSource
    from resources.lancedb_store import LanceDBStore
    from resources.settings import IngestSettings
    from resources.tables import DocumentRow

    client = _client()
    for bucket in (DOCS_BUCKET, VECTORS_BUCKET):
        _ensure_bucket(client, bucket)
    source_url, lancedb_uri = f"s3://{DOCS_BUCKET}/inbox/", f"s3://{VECTORS_BUCKET}/lancedb"
    home = dagster_home(work / "tick-home")
    os.environ.update(
        DAGSTER_HOME=str(home), INGEST_SOURCE_DIR=source_url, LANCEDB_URI=lancedb_uri, INGEST_DEBOUNCE_S="0"
    )
    instance = dg.DagsterInstance.from_config(str(home))
    source, store = DocumentSource(suffixes=supported_suffixes(), root_dir=source_url), LanceDBStore(uri=lancedb_uri)
    sensor = build_definitions(IngestSettings.from_env()).resolve_sensor_def("inbox_sensor")

    def tick() -> tuple[float, float, dg.SensorResult]:
        context = dg.build_sensor_context(instance=instance, resources={"source": source, "lancedb": store})
        wall, cpu = time.perf_counter(), time.process_time()
        result = sensor(context)
        return time.perf_counter() - wall, time.process_time() - cpu, result

    results: list[dict] = []
    present = 0
    for n in sizes:
        row: dict = {"objects": n}
        t0 = time.perf_counter()
        _put_many(client, DOCS_BUCKET, [(f"inbox/{k}", v) for k, v in map(_note, range(present, n))])
        row["upload_s"] = round(time.perf_counter() - t0, 1)
        added = range(present, n)
        present = n

        wall, cpu = time.perf_counter(), time.process_time()
        scan = source.scan()
        row["list_s"] = round(time.perf_counter() - wall, 2)
        row["list_client_cpu_s"] = round(time.process_time() - cpu, 2)
        assert len(scan.files) == n, (len(scan.files), n)

        new_keys = [_note(i)[0] for i in added]
        if not results:  # every object is new: the first tick lists, registers and hashes (downloads)
            wall_s, cpu_s, first = tick()
            row["first_tick_s"], row["first_tick_client_cpu_s"] = round(wall_s, 2), round(cpu_s, 2)
            row["first_tick_summary"] = json.loads(first.cursor)
        for i in range(0, len(new_keys), PARTITION_ADD_CHUNK):
            instance.add_dynamic_partitions(documents_partitions.name, new_keys[i : i + PARTITION_ADD_CHUNK])
        listed = {f.key: f for f in scan.files}
        rows = [text_document_row(listed[key], source.uri_for(key), data) for key, data in map(_note, added)]
        t0 = time.perf_counter()
        store.replace_rows(DocumentRow, rows, new_keys)
        row["write_rows_s"] = round(time.perf_counter() - t0, 1)

        steady = [tick() for _ in range(ticks)]
        assert all(not (r.run_requests or r.dynamic_partitions_requests) for _, _, r in steady), "steady tick did work"
        row["steady_tick_s"] = round(statistics.median(t for t, _, _ in steady), 2)
        row["steady_tick_all_s"] = [round(t, 2) for t, _, _ in steady]
        row["steady_tick_client_cpu_s"] = round(statistics.median(c for _, c, _ in steady), 2)
        row["ticks_over_60s_budget"] = sum(t >= 60 for t, _, _ in steady)
        results.append(row)
        print(json.dumps(row), flush=True)
    instance.dispose()
    return results


def _phase_seconds(log: str) -> dict[str, float]:
    """Seconds of each phase, from the step's `<phase>: N done, M failed, S s` log lines."""
    found = {}
    for phase in ("documents", "chunks", "embeddings"):
        match = re.search(rf"\b{phase}: \d+ done, \d+ failed, ([0-9.]+) s", log)
        if match:
            found[phase] = float(match.group(1))
    return found


def cold_section(work: Path, docs: int, seed: int, rounds: int = 1) -> dict:
    """A cold `ingestctl ingest` from a local folder and one from the bucket (LanceDB alongside
    each), per round; odd rounds run the bucket first, so that load from other processes on the
    machine does not always fall on the same variant."""
    corpus = work / "corpus"
    summary = generate(corpus, docs, seed=seed)
    client = _client()
    for bucket in (DOCS_BUCKET, VECTORS_BUCKET):
        _ensure_bucket(client, bucket)
    prefix = f"corpus-{int(time.time())}/"
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    _put_many(client, DOCS_BUCKET, [(prefix + p.relative_to(corpus).as_posix(), p.read_bytes()) for p in files])

    base = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "LANCEDB_URI", "INGEST_SOURCE_DIR")}
    base.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    variants = {
        "local": {"INGEST_SOURCE_DIR": str(corpus), "LANCEDB_URI": str(work / "cold-local-db")},
        "bucket": {
            "INGEST_SOURCE_DIR": f"s3://{DOCS_BUCKET}/{prefix}",
            "LANCEDB_URI": f"s3://{VECTORS_BUCKET}/{prefix}lancedb",
        },
    }
    result: dict = {"corpus": summary, "objects": len(files), "rounds": []}
    for r in range(rounds):
        measured: dict = {}
        for name in ("local", "bucket") if r % 2 == 0 else ("bucket", "local"):
            values = {k: v + (f"/round-{r}" if k == "LANCEDB_URI" else "") for k, v in variants[name].items()}
            env = {**base, **values, "DAGSTER_HOME": str(dagster_home(work / f"cold-{name}-{r}-home"))}
            load = os.getloadavg()[0]
            report, proc = measure([PY, "-m", "ingestctl", "ingest"], env)
            log = proc.stdout + proc.stderr
            done = next((line for line in log.splitlines() if "fully ingested" in line), "")
            measured[name] = {**report, **values, "loadavg_1m_before": load, "phases_s": _phase_seconds(log)}
            measured[name]["summary"] = done
            print(json.dumps({name: measured[name]}), flush=True)
        measured["bucket_over_local"] = round(measured["bucket"]["wall_s"] / measured["local"]["wall_s"], 3)
        result["rounds"].append(measured)
    result["bucket_over_local"] = [m["bucket_over_local"] for m in result["rounds"]]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,20000,50000,100000")
    parser.add_argument("--ticks", type=int, default=3)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1, help="cold section: local/bucket pairs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "s3_results.json")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    work = args.work or Path(tempfile.mkdtemp(prefix="ingest-s3-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"work": str(work), "machine_cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}

    server = None
    if not os.environ.get("AWS_ENDPOINT_URL"):
        from tests.s3_server import S3Server

        server = S3Server().start()
        os.environ.update(server.env())
        from importlib.metadata import version

        results["server"] = f"moto_server {version('moto')} on {server.endpoint} (started by this script)"
    else:
        results["server"] = os.environ["AWS_ENDPOINT_URL"]
    try:
        if "tick" in only:
            sizes = [int(s) for s in args.sizes.split(",") if s]
            results["tick"] = tick_section(work, sizes, args.ticks)
        if "cold" in only:
            results["cold"] = cold_section(work, args.docs, args.seed, args.rounds)
    finally:
        if server is not None:
            server.stop()
            server.log_path.unlink(missing_ok=True)
    results["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print_table(results)
    print(f"\nwritten to {args.out}")
    return 0


def print_table(results: dict) -> None:
    if "tick" in results:
        print("\n| objects | listing s (client CPU) | steady tick s, median (all) | client CPU s | ticks over 60 s |")
        print("|---|---|---|---|---|")
        for r in results["tick"]:
            print(
                f"| {r['objects']:,} | {r['list_s']} ({r['list_client_cpu_s']}) | {r['steady_tick_s']} "
                f"({', '.join(map(str, r['steady_tick_all_s']))}) | {r['steady_tick_client_cpu_s']} | "
                f"{r['ticks_over_60s_budget']} of {len(r['steady_tick_all_s'])} |"
            )
        first = results["tick"][0] if results["tick"] else {}
        if "first_tick_s" in first:
            print(
                f"first tick, {first['objects']:,} new objects: {first['first_tick_s']} s ({first['first_tick_summary']})"
            )
    if "cold" in results:
        print("\n| round | cold `ingestctl ingest` | wall s | phases s | load before | peak RSS MB | exit | result |")
        print("|---|---|---|---|---|---|---|---|")
        for r, measured in enumerate(results["cold"]["rounds"]):
            for name in ("local", "bucket"):
                m = measured[name]
                print(
                    f"| {r} | {name} | {m['wall_s']} | {m['phases_s']} | {m['loadavg_1m_before']:.1f} | "
                    f"{m['peak_rss_mb']} | {m['exit']} | {m['summary']} |"
                )
        print(f"bucket / local wall time, per round: {results['cold']['bucket_over_local']}")


if __name__ == "__main__":
    sys.exit(main())
