"""Table-wide checks of the store against Dagster's records and the source folder.

Each returns a `CheckOutcome` naming the offending documents, used by the asset checks, the
`ingestion_report` asset and `ingestctl report`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg
import numpy as np
import pyarrow as pa

from ingestion_assets.keys import DEFAULT, Family
from ingestion_assets.records import Status, phase_statuses, registered_partitions
from resources.document_source import DocumentSource
from resources.lancedb_store import DOCUMENTS, TABLES, LanceDBStore

MAX_LISTED = 50


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    summary: str
    metadata: dict = field(default_factory=dict)
    offending: list[str] = field(default_factory=list)

    def as_result(self) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            check_name=self.name,
            passed=self.passed,
            description=self.summary,
            metadata={
                **self.metadata,
                "offending_documents": dg.MetadataValue.json(sorted(self.offending)[:MAX_LISTED]),
                "offending_count": len(self.offending),
            },
        )


def parity(
    instance: dg.DagsterInstance,
    store: LanceDBStore,
    model_id: str,
    max_drift_pct: float,
    families: Sequence[Family] = (DEFAULT,),
) -> CheckOutcome:
    """Every chunk of every document whose embeddings are materialised has exactly one vector
    from the current model."""
    done: set[str] = set()
    for family in families:
        keys = registered_partitions(instance, family)
        status = phase_statuses(instance, keys, [family.embeddings_key], family)[family.embeddings_key]
        done |= {k for k, s in status.items() if s == Status.MATERIALIZED}
    vectors = store.vector_keys()
    chunk_doc = {chunk_id: doc_id for chunk_id, doc_id in store.chunk_keys() if doc_id in done}
    current = Counter(chunk_id for chunk_id, doc_id, model in vectors if doc_id in done and model == model_id)
    missing = [cid for cid in chunk_doc if current[cid] == 0]
    extra_docs = [
        doc_id
        for chunk_id, doc_id, model in vectors
        if doc_id in done and (model != model_id or chunk_id not in chunk_doc)
    ]
    duplicates = [cid for cid, n in current.items() if n > 1]
    extra = len(extra_docs) + sum(current[cid] - 1 for cid in duplicates)
    drift = 100.0 * (len(missing) + extra) / max(1, len(chunk_doc))
    offending = {chunk_doc[cid] for cid in missing} | set(extra_docs)
    offending |= {chunk_doc.get(cid, "?") for cid in duplicates}
    passed = drift <= max_drift_pct
    return CheckOutcome(
        "parity",
        passed,
        f"{len(chunk_doc)} chunks of {len(done)} documents: {len(missing)} without a vector, {extra} extra vectors "
        f"(drift {drift:.2f} %, limit {max_drift_pct} %)",
        {
            "chunks": len(chunk_doc),
            "missing": len(missing),
            "extra": extra,
            "drift_pct": round(drift, 4),
            "model": model_id,
        },
        sorted(offending),
    )


def orphans(instance: dg.DagsterInstance, store: LanceDBStore, sources: Sequence[DocumentSource]) -> CheckOutcome:
    """Rows whose document has no partition or no source file (or object) any more, or whose source is no longer
    configured; one listing per folder or bucket. Sites are not crawled for it: their purged pages lose their
    partitions, which this check sees."""
    partitions = {key for source in sources for key in registered_partitions(instance, Family(source.name))}
    per_table = {name: store.document_ids(name) for name in TABLES}
    stored = set().union(*per_table.values())
    no_partition = {d for d in stored if d not in partitions}
    no_file: set[str] = set()
    not_listed = [source.name for source in sources if not source.source.lists_cheaply]
    for source in sources:
        if source.name not in not_listed:
            no_file |= source.missing(store.stored_documents(source=source.name))
    offending = sorted(no_partition | no_file)
    return CheckOutcome(
        "orphans",
        not offending,
        f"{len(no_partition)} stored document(s) without a partition, {len(no_file)} without a source file"
        + (f" (sites not crawled for this check: {', '.join(not_listed)})" if not_listed else ""),
        {
            "sources_not_listed": not_listed,
            "documents_without_partition": len(no_partition),
            "documents_without_file": len(no_file),
            **{f"{name}_orphan_documents": len(ids & set(offending)) for name, ids in per_table.items()},
        },
        offending,
    )


def reconcile(
    instance: dg.DagsterInstance, store: LanceDBStore, families: Sequence[Family] = (DEFAULT,)
) -> CheckOutcome:
    """What Dagster records as materialised versus the rows actually in LanceDB, both ways."""
    present = {table: store.document_ids(table) for table in TABLES}
    empty_docs = store.empty_documents()
    missing: dict[str, list[str]] = {table: [] for table in TABLES}
    unrecorded: dict[str, list[str]] = {table: [] for table in TABLES}
    for family in families:
        keys = registered_partitions(instance, family)
        status = phase_statuses(instance, keys, family=family)
        for table, key in zip(TABLES, family.phase_keys, strict=True):
            materialized = {k for k, s in status[key].items() if s == Status.MATERIALIZED}
            never = {k for k in keys if status[key].get(k) is None}
            expected_rows = materialized if table == DOCUMENTS else materialized - empty_docs
            missing[table] += sorted(expected_rows - present[table])
            unrecorded[table] += sorted(present[table] & never)
    offending = sorted({d for ids in [*missing.values(), *unrecorded.values()] for d in ids})
    metadata = {f"{phase}_materialized_without_rows": len(ids) for phase, ids in missing.items()}
    metadata |= {f"{phase}_rows_without_materialization": len(ids) for phase, ids in unrecorded.items()}
    return CheckOutcome(
        "reconcile",
        not offending,
        f"{sum(map(len, missing.values()))} materialisation(s) without rows, "
        f"{sum(map(len, unrecorded.values()))} row set(s) without a materialisation",
        metadata,
        offending,
    )


def vectors(store: LanceDBStore, dimensions: int, tolerance: float = 1e-3) -> CheckOutcome:
    """Every vector has the model's dimensions, no NaN and unit norm (scanned in batches)."""
    scan = store.vector_batches()
    if scan is None:
        return CheckOutcome("vectors", True, "no embeddings yet", {"vectors": 0})
    stored_dim, batches = scan
    bad: set[str] = set()
    total = nan = off_norm = 0
    for batch in batches:
        if not batch.num_rows:
            continue
        total += batch.num_rows
        null = batch.column("vector").is_null().to_numpy(zero_copy_only=False)
        doc_ids = batch.column("doc_id").to_pylist()
        bad.update(doc_ids[i] for i in np.flatnonzero(null))
        nan += int(null.sum())
        valid = batch.filter(pa.array(~null))
        n = valid.num_rows
        if not n:
            continue
        values = valid.column("vector").flatten().to_numpy(zero_copy_only=False).reshape(n, stored_dim)
        valid_ids = valid.column("doc_id").to_pylist()
        is_nan = np.isnan(values).any(axis=1)
        norms = np.linalg.norm(np.nan_to_num(values), axis=1)
        is_off = ~is_nan & (np.abs(norms - 1.0) > tolerance)
        nan += int(is_nan.sum())
        off_norm += int(is_off.sum())
        bad.update(valid_ids[i] for i in np.flatnonzero(is_nan | is_off))
    passed = stored_dim == dimensions and not bad
    return CheckOutcome(
        "vectors",
        passed,
        f"{total} vectors of {stored_dim} dimensions (model: {dimensions}); {nan} null or NaN, {off_norm} not unit norm",
        {
            "vectors": total,
            "dimensions": stored_dim,
            "model_dimensions": dimensions,
            "nan": nan,
            "not_unit_norm": off_norm,
        },
        sorted(bad),
    )
