"""`ingestctl metrics`: a Prometheus exporter of the ingestion state, read from the instance and the tables at each scrape."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    import dagster as dg

    from ingestctl.instance import CliContext
    from ingestion_assets.keys import Family

SHARED_JOBS = ("purge_job", "maintenance_job")
"""Besides each source's ingestion jobs, the jobs whose queued, starting and running runs are counted."""
RUN_STATES = {"queued": ("QUEUED",), "starting": ("NOT_STARTED", "STARTING"), "running": ("STARTED",)}
"""`status` label -> Dagster run statuses."""
SHARED_SENSORS = ("dead_run_sensor",)
TICK_STATES = ("success", "skipped", "failure")
TICKS_READ = 5
"""Latest ticks read per sensor to find the latest completed one (a tick in progress has no outcome yet)."""
GROUPS = ("documents", "failures", "skipped", "runs", "throughput", "last_success", "sensors", "deletions", "lancedb")
"""The groups of metrics read independently: one that fails is reported in ingest_scrape_errors, the rest are served."""
STATUS_CHUNK = 2000
"""Failed documents whose errors are read per query (SQLite limits the variables of a statement)."""


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:9464` for IPv6; an empty host listens on every interface) as (host, port)."""
    host, sep, port = listen.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen must be HOST:PORT, not {listen!r}")
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
    return host, int(port)


class IngestCollector(Collector):
    """Reads every group of metrics anew on each scrape; scrapes are served one at a time."""

    def __init__(self, context: CliContext) -> None:
        self.context = context
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            started = time.perf_counter()
            scrape = _Scrape(self.context)
            errors = GaugeMetricFamily(
                "ingest_scrape_errors",
                "1 when this scrape could not read the group's metrics (see stderr)",
                labels=["group"],
            )
            families: list[Metric] = []
            for group in GROUPS:
                read: Callable[[], list[Metric]] = getattr(scrape, group)
                try:
                    families.extend(read())
                    errors.add_metric([group], 0)
                except Exception as exc:  # one group's failure must not fail the scrape
                    errors.add_metric([group], 1)
                    print(f"ingestctl metrics: {group}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            families.append(errors)
            duration = GaugeMetricFamily(
                "ingest_scrape_duration_seconds", "Seconds this scrape took to read its metrics"
            )
            duration.add_metric([], time.perf_counter() - started)
            families.append(duration)
        yield from families


class _Scrape:
    """One scrape: what several groups need is read once."""

    def __init__(self, context: CliContext) -> None:
        self.context = context
        self.instance = context.instance
        self.families = context.families

    # ---- shared reads ----------------------------------------------------------------------------

    @cached_property
    def phases(self) -> dict[Family, tuple[list[str], dict[dg.AssetKey, dict[Any, set[str]]]]]:
        """Per source: its documents, and per phase those materialised, failed and in progress (the others are
        missing)."""
        from ingestion_assets.dagster_compat import phase_status_sets

        return {family: phase_status_sets(self.instance, family) for family in self.families}

    @cached_property
    def latest_embeddings(self) -> dict[Family, Any]:
        """Per source, its latest `embeddings` materialisation record, or None."""
        latest = {}
        for family in self.families:
            records = self.instance.fetch_materializations(family.embeddings_key, limit=1).records
            latest[family] = records[0] if records else None
        return latest

    # ---- groups ----------------------------------------------------------------------------------

    def documents(self) -> list[Metric]:
        from ingestion_assets.status import STATE_NAMES

        metric = GaugeMetricFamily(
            "ingest_documents",
            "Documents per phase and state, from Dagster's partition statuses",
            labels=["source", "phase", "state"],
        )
        for family, (partitions, statuses) in self.phases.items():
            for key in family.phase_keys:
                counts = {status: len(docs) for status, docs in statuses[key].items()}
                counts[None] = len(partitions) - sum(counts.values())
                for status, name in STATE_NAMES.items():
                    metric.add_metric([family.source, key.path[-1], _label(name)], counts.get(status, 0))
        return [metric]

    def failures(self) -> list[Metric]:
        from ingestion_assets.failure_reasons import OTHER, REASONS, classify
        from ingestion_assets.records import Status, latest_errors

        metric = GaugeMetricFamily(
            "ingest_document_failures",
            "Failed documents by the phase that failed and the class of its error (ingestion_assets/failure_reasons.py)",
            labels=["source", "phase", "reason"],
        )
        for family, (_, statuses) in self.phases.items():
            failed = {key: sorted(statuses[key][Status.FAILED]) for key in family.phase_keys}
            counts: Counter[tuple[str, str]] = Counter()
            attributed: set[str] = set()
            for key in family.phase_keys:
                # The phase whose failure recorded an error (a document failed in `documents` also shows
                # `chunks` and `embeddings` failed, with no error of their own).
                pending = [d for d in failed[key] if d not in attributed]
                for i in range(0, len(pending), STATUS_CHUNK):
                    for doc_id, error in latest_errors(self.instance, {key: pending[i : i + STATUS_CHUNK]}).items():
                        attributed.add(doc_id)
                        counts[key.path[-1], classify(error)] += 1
            for key in family.phase_keys:
                for doc_id in failed[key]:
                    if doc_id not in attributed:
                        attributed.add(doc_id)
                        counts[key.path[-1], OTHER] += 1
            for key in family.phase_keys:
                for reason in REASONS:
                    metric.add_metric([family.source, key.path[-1], reason], counts[key.path[-1], reason])
        return [metric]

    def skipped(self) -> list[Metric]:
        from ingestion_assets.source_listing import SourceListing
        from resources.sources.naming import SKIP_REASONS

        metric = GaugeMetricFamily(
            "ingest_skipped_files",
            "Files under the source that are not documents, per reason, at the last recorded listing",
            labels=["source", "reason"],
        )
        for family in self.families:
            listing = SourceListing.latest(self.instance, family)
            skipped = dict.fromkeys(SKIP_REASONS, 0) | (listing.skipped if listing is not None else {})
            for reason, count in skipped.items():
                metric.add_metric([family.source, _label(reason)], count)
        return [metric]

    def runs(self) -> list[Metric]:
        import dagster as dg

        family = GaugeMetricFamily(
            "ingest_runs",
            "Queued, starting and running runs of the ingestion jobs (`dagster_job`: Prometheus owns `job`)",
            labels=["dagster_job", "status"],
        )
        jobs = [name for f in self.families for name in (f.ingest_job, f.ingest_job_celery)] + list(SHARED_JOBS)
        for job in jobs:
            for state, names in RUN_STATES.items():
                statuses = [dg.DagsterRunStatus[name] for name in names]
                count = self.instance.get_runs_count(dg.RunsFilter(job_name=job, statuses=statuses))
                family.add_metric([job, state], count)
        oldest = self.instance.get_run_records(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]), limit=1, ascending=True
        )
        age = max(0.0, time.time() - oldest[0].create_timestamp.timestamp()) if oldest else 0.0
        queued = GaugeMetricFamily(
            "ingest_oldest_queued_run_age_seconds", "Seconds the oldest queued run has waited (0 when none is queued)"
        )
        queued.add_metric([], age)
        return [family, queued]

    def throughput(self) -> list[Metric]:
        embedded = GaugeMetricFamily(
            "ingest_last_embedded_chunks",
            "Chunks embedded (not reused) by the batch of the latest embeddings materialisation",
            labels=["source"],
        )
        speed = GaugeMetricFamily(
            "ingest_last_embedding_chunks_per_second",
            "Embedding throughput of the batch of the latest embeddings materialisation that embedded chunks",
            labels=["source"],
        )
        for family, record in self.latest_embeddings.items():
            metadata = _metadata(record.asset_materialization) if record is not None else {}
            embedded.add_metric([family.source], float(metadata.get("batch_embedded_chunks", 0) or 0))
            if metadata.get("chunks_per_second") is not None:
                speed.add_metric([family.source], float(metadata["chunks_per_second"]))
        return [embedded, *([speed] if speed.samples else [])]

    def last_success(self) -> list[Metric]:
        import dagster as dg

        stamp = GaugeMetricFamily(
            "ingest_last_success_timestamp_seconds",
            "When documents last reached the embeddings table: a successful ingestion run's end, or a materialisation",
            labels=["source"],
        )
        since = GaugeMetricFamily(
            "ingest_seconds_since_last_success",
            "Seconds since ingest_last_success_timestamp_seconds",
            labels=["source"],
        )
        for family in self.families:
            ends = []
            for job in (family.ingest_job, family.ingest_job_celery):
                records = self.instance.get_run_records(
                    filters=dg.RunsFilter(job_name=job, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
                )
                ends += [r.end_time for r in records if r.end_time]
            if self.latest_embeddings[family] is not None:
                ends.append(self.latest_embeddings[family].timestamp)
            if ends:
                stamp.add_metric([family.source], max(ends))
                since.add_metric([family.source], max(0.0, time.time() - max(ends)))
        return [stamp, since] if stamp.samples else []

    def sensors(self) -> list[Metric]:
        duration = GaugeMetricFamily(
            "ingest_sensor_last_tick_seconds", "Duration of the sensor's latest completed tick", labels=["sensor"]
        )
        outcome = GaugeMetricFamily(
            "ingest_sensor_last_tick_status",
            "1 for the status of the sensor's latest completed tick",
            labels=["sensor", "status"],
        )
        stamp = GaugeMetricFamily(
            "ingest_sensor_last_tick_timestamp_seconds",
            "When the sensor's latest completed tick started",
            labels=["sensor"],
        )
        evaluation = GaugeMetricFamily(
            "ingest_sensor_last_evaluation_seconds",
            "Seconds the inbox sensor's own evaluation took at its latest tick, from its cursor",
            labels=["sensor"],
        )
        held = GaugeMetricFamily(
            "ingest_sensor_held_deletions",
            "Documents whose purge the inbox sensor found held at its latest tick, from its cursor",
            labels=["sensor"],
        )
        latest: dict[str, tuple[Any, Any]] = {}
        sensors = {family.sensor for family in self.families} | set(SHARED_SENSORS)
        for state in self.instance.all_instigator_state():
            name = state.instigator_name
            if state.instigator_type.value != "SENSOR" or name not in sensors:
                continue
            ticks = self.instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=TICKS_READ)
            done = next((t for t in ticks if t.status.value.lower() in TICK_STATES), None)
            if done is not None and (name not in latest or done.timestamp > latest[name][0].timestamp):
                latest[name] = (done, state)
        for name, (tick, state) in sorted(latest.items()):
            if tick.end_timestamp is not None:
                duration.add_metric([name], max(0.0, tick.end_timestamp - tick.timestamp))
            for status in TICK_STATES:
                outcome.add_metric([name, status], 1 if tick.status.value.lower() == status else 0)
            stamp.add_metric([name], tick.timestamp)
            summary = _cursor(getattr(state.instigator_data, "cursor", None))
            if "seconds" in summary:
                evaluation.add_metric([name], float(summary["seconds"]))
            if "held_deletions" in summary:
                held.add_metric([name], float(summary["held_deletions"]))
        return [duration, outcome, stamp, evaluation, held]

    def deletions(self) -> list[Metric]:
        family = GaugeMetricFamily(
            "ingest_held_deletions",
            "Documents whose purge is held by the mass-deletion guard until `ingestctl confirm-deletions` (0: none)",
            labels=["source"],
        )
        for source in self.families:
            family.add_metric([source.source], held_deletions(self.instance, source))
        return [family]

    def lancedb(self) -> list[Metric]:
        version = GaugeMetricFamily("ingest_lancedb_table_version", "LanceDB table version", labels=["table"])
        fragments = GaugeMetricFamily(
            "ingest_lancedb_table_fragments",
            "Data fragments of the LanceDB table (compaction merges them)",
            labels=["table"],
        )
        rows = GaugeMetricFamily("ingest_lancedb_table_rows", "Rows in the LanceDB table", labels=["table"])
        stats = self.context.store.table_stats()
        for table, values in stats.items():
            version.add_metric([table], values["version"])
            fragments.add_metric([table], values["fragments"])
            rows.add_metric([table], values["rows"])
        embeddings = GaugeMetricFamily(
            "ingest_embeddings_rows", "Rows in the LanceDB embeddings table", labels=["source"]
        )
        for family in self.families:
            embeddings.add_metric([family.source], self.context.store.count_rows("embeddings", family.source))
        return [version, fragments, rows, embeddings]


def held_deletions(instance: dg.DagsterInstance, family: Family) -> int:
    """Vanished documents of every deletion of a source held now, read as `deletions.current_holds` reads them."""
    from ingestion_assets.deletions import RECORDS_READ

    seen: set[tuple[str, str]] = set()
    total = 0
    for record in instance.fetch_observations(family.source_deletions_key, limit=RECORDS_READ).records:
        observation = record.asset_observation
        if observation is None:
            continue
        values = _metadata(observation)
        scope = (str(values.get("location")), str(values.get("under", "")))
        if values.get("state") == "confirmed" or scope in seen:
            continue
        seen.add(scope)
        if values.get("state") == "held":
            total += int(values.get("vanished", 0) or 0)
    return total


def _metadata(event: Any) -> dict[str, Any]:
    return {name: value.value for name, value in event.metadata.items()}


def _cursor(cursor: str | None) -> dict[str, Any]:
    try:
        value = json.loads(cursor) if cursor else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _label(value: str) -> str:
    """A state or reason as a label value: `in progress` -> `in_progress`."""
    return "_".join(value.split())


def build_registry(context: CliContext) -> CollectorRegistry:
    """A registry of its own (not the process-wide default) holding only the ingestion collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(IngestCollector(context))
    return registry


def run_metrics(listen: str) -> int:
    from prometheus_client import start_http_server

    from ingestctl.collector import resume_for_work
    from ingestctl.instance import CliContext

    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        print(f"ingestctl metrics: {exc}", file=sys.stderr)
        return 2
    context = CliContext.from_env()
    try:
        home = context.instance.root_directory
    except Exception as exc:
        print(f"ingestctl metrics: cannot open the Dagster instance: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    registry = build_registry(context)
    _consume(registry.collect())  # imports and connections before the first scrape, so it is not the slow one
    resume_for_work()  # a long-running process: garbage collection back on (the CLI starts with it off)
    try:
        server, thread = start_http_server(port, host, registry=registry)
    except OSError as exc:
        print(f"ingestctl metrics: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"ingestctl metrics: serving http://{shown}:{bound}/metrics (DAGSTER_HOME {home}, LanceDB {context.store.uri})",
        flush=True,
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        context.instance.dispose()
    return 0


def _consume(metrics: Iterable[Metric]) -> None:
    for _ in metrics:
        pass
