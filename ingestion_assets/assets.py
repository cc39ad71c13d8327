"""`documents`, `chunks` and `embeddings`: three partitioned assets computed in one step per batch.

One step per batch means one model load per run and chunks of many documents embedded
together. The step logs an `AssetMaterialization` per document and phase that succeeded and
then raises `Failure` naming the documents that did not, so every partition of every asset gets
its own status: a bad document never fails the others of its batch.
"""



import hashlib
from collections.abc import Iterator

import dagster as dg
import pyarrow as pa
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DATA_VERSION_TAG,
    NULL_EVENT_POINTER,
    get_input_data_version_tag,
    get_input_event_pointer_tag,
)
from dagster._core.events import DagsterEventType

from ingestion_assets.chunking import chunker_version, tokenizer_fingerprint
from ingestion_assets.parsing import PARSER_VERSION
from ingestion_assets.partitions import documents_partitions
from ingestion_assets.phases import Batch, PhaseResult, chunk_phase, embed_phase, parse_phase
from resources.document_source import DocumentSource
from resources.embedding_model import EmbeddingModel, model_id_for, resolve_model_dir
from resources.lancedb_store import (
    CHUNKS,
    CHUNKS_SCHEMA,
    DOCUMENTS,
    DOCUMENTS_SCHEMA,
    EMBEDDINGS,
    LanceDBStore,
    embeddings_schema,
)
from resources.settings import setting

DOCUMENTS_KEY = dg.AssetKey(DOCUMENTS)
CHUNKS_KEY = dg.AssetKey(CHUNKS)
EMBEDDINGS_KEY = dg.AssetKey(EMBEDDINGS)
PHASE_KEYS = (DOCUMENTS_KEY, CHUNKS_KEY, EMBEDDINGS_KEY)

MODEL_ID = model_id_for(setting("INGEST_MODEL"))


def _tokenizer_id() -> str:
    try:
        return tokenizer_fingerprint(resolve_model_dir(setting("INGEST_MODEL")))
    except FileNotFoundError:
        return MODEL_ID


CHUNKER_VERSION = chunker_version(
    _tokenizer_id(), int(setting("INGEST_CHUNK_TOKENS")), int(setting("INGEST_CHUNK_OVERLAP"))
)
CODE_VERSIONS = {
    DOCUMENTS_KEY: PARSER_VERSION,
    CHUNKS_KEY: CHUNKER_VERSION,
    EMBEDDINGS_KEY: f"embed-1:{MODEL_ID}",
}

GROUP = "ingestion"
MAX_LISTED_FAILURES = 50

def _column_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in schema])


_specs = [
    dg.AssetSpec(
        DOCUMENTS_KEY,
        description=(
            "Parsed text of each source file (PDF and other PyMuPDF formats with page boundaries; "
            "text, Markdown, HTML without markup). LanceDB table `documents`, one row per document."
        ),
        code_version=CODE_VERSIONS[DOCUMENTS_KEY],
        kinds={"pymupdf", "lancedb"},
        metadata={"dagster/column_schema": _column_schema(DOCUMENTS_SCHEMA), "lancedb_table": DOCUMENTS},
        group_name=GROUP,
        skippable=True,
    ),
    dg.AssetSpec(
        CHUNKS_KEY,
        deps=[DOCUMENTS_KEY],
        description=(
            "Passages of each document sized in the embedding model's own tokens "
            "(langchain recursive splitter), with page and character spans. LanceDB table `chunks`."
        ),
        code_version=CODE_VERSIONS[CHUNKS_KEY],
        kinds={"langchain", "lancedb"},
        metadata={"dagster/column_schema": _column_schema(CHUNKS_SCHEMA), "lancedb_table": CHUNKS},
        group_name=GROUP,
        skippable=True,
    ),
    dg.AssetSpec(
        EMBEDDINGS_KEY,
        deps=[CHUNKS_KEY],
        description=(
            "Unit-norm sentence-transformers vectors of every chunk, ready for vector and hybrid "
            "search. LanceDB table `embeddings`."
        ),
        code_version=CODE_VERSIONS[EMBEDDINGS_KEY],
        kinds={"sentence-transformers", "lancedb"},
        metadata={"dagster/column_schema": _column_schema(embeddings_schema(384)), "lancedb_table": EMBEDDINGS},
        group_name=GROUP,
        skippable=True,
    ),
]


@dg.multi_asset(
    name="ingest_documents",
    specs=_specs,
    partitions_def=documents_partitions,
    can_subset=True,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=int(setting("INGEST_MAX_DOCS_PER_RUN"))),
    pool="ingestion",
)
def ingest_documents(
    context: dg.AssetExecutionContext,
    source: DocumentSource,
    lancedb: LanceDBStore,
    embedder: EmbeddingModel,
):
    batch = Batch(doc_ids=list(context.partition_keys))
    selected = context.selected_asset_keys
    context.log.info(f"ingesting {len(batch.doc_ids)} document(s): phases {sorted(k.to_user_string() for k in selected)}")

    if DOCUMENTS_KEY in selected:
        yield from _report(context, DOCUMENTS_KEY, batch, parse_phase(batch, source, lancedb))
    if CHUNKS_KEY in selected:
        yield from _report(context, CHUNKS_KEY, batch, chunk_phase(batch, lancedb, embedder, CHUNKER_VERSION))
    if EMBEDDINGS_KEY in selected and batch.remaining:
        yield from _report(context, EMBEDDINGS_KEY, batch, embed_phase(batch, lancedb, embedder))

    if batch.failures:
        for failure in batch.failures.values():
            yield dg.AssetObservation(
                asset_key=failure.phase,
                partition=failure.doc_id,
                metadata={"error": failure.reason, "phase": failure.phase, **batch.fingerprints.get(failure.doc_id, {})},
            )
        failed = list(batch.failures.values())
        listed = "\n".join(f"- {f}" for f in failed[:MAX_LISTED_FAILURES])
        more = f"\n- ... and {len(failed) - MAX_LISTED_FAILURES} more" if len(failed) > MAX_LISTED_FAILURES else ""
        raise dg.Failure(
            description=f"{len(failed)} of {len(batch.doc_ids)} document(s) failed:\n{listed}{more}",
            metadata={"failed_documents": [f.doc_id for f in failed]},
            allow_retries=False,
        )


UPSTREAM = {CHUNKS_KEY: DOCUMENTS_KEY, EMBEDDINGS_KEY: CHUNKS_KEY}


def _data_version(key: dg.AssetKey, batch: Batch, doc_id: str) -> str:
    """What a phase produced for a document: content hash, chunk ids, or chunk ids and model."""
    if key == DOCUMENTS_KEY:
        return batch.fingerprints[doc_id]["content_hash"][:24]
    ids = "\n".join(c.chunk_id for c in batch.chunks.get(doc_id, []))
    salt = MODEL_ID if key == EMBEDDINGS_KEY else ""
    return hashlib.sha256(f"{salt}\n{ids}".encode()).hexdigest()[:24]


def _lineage_tags(context: dg.AssetExecutionContext, key: dg.AssetKey, batch: Batch, documents: list[str]) -> dict:
    """Data-version tags per document, so the UI knows which upstream materialisation each
    downstream one was computed from (what Dagster adds itself when an asset returns an output)."""
    upstream = UPSTREAM.get(key)
    pointers = {}
    if upstream is not None and documents:
        pointers = context.instance.event_log_storage.get_latest_storage_id_by_partition(
            upstream, DagsterEventType.ASSET_MATERIALIZATION, partitions=set(documents)
        )
    tags = {}
    for doc_id in documents:
        doc_tags = {CODE_VERSION_TAG: CODE_VERSIONS[key], DATA_VERSION_TAG: _data_version(key, batch, doc_id)}
        if upstream is not None:
            pointer = pointers.get(doc_id)
            doc_tags[get_input_data_version_tag(upstream)] = _data_version(upstream, batch, doc_id)
            doc_tags[get_input_event_pointer_tag(upstream)] = str(pointer) if pointer else NULL_EVENT_POINTER
        tags[doc_id] = doc_tags
    return tags


def _report(
    context: dg.AssetExecutionContext, key: dg.AssetKey, batch: Batch, result: PhaseResult
) -> Iterator[dg.AssetMaterialization]:
    """One materialization per document that completed the phase, tagged with its lineage."""
    batch_metadata = result.metadata.pop("__batch__", {})
    documents = [d for d in batch.doc_ids if d in result.metadata]
    lineage = _lineage_tags(context, key, batch, documents)
    for doc_id in documents:
        metadata = dict(result.metadata[doc_id])
        rows = metadata.get("chunks", metadata.get("vectors", 1))
        if "preview" in metadata:
            metadata["preview"] = dg.MetadataValue.md(metadata["preview"])
        if "source" in metadata:
            metadata["source"] = dg.MetadataValue.path(metadata["source"])
        warnings = metadata.pop("warnings", None)
        if warnings:
            metadata["warnings"] = dg.MetadataValue.md("\n".join(f"- {w}" for w in warnings))
            context.log.warning(f"{doc_id!r} ({key.to_user_string()}): " + "; ".join(warnings))
        yield dg.AssetMaterialization(
            asset_key=key,
            partition=doc_id,
            metadata={
                **metadata,
                **batch_metadata,
                "dagster/row_count": rows,
                "lancedb_table_version": result.table_version or 0,
                "phase_seconds": round(result.seconds, 3),
            },
            tags=lineage[doc_id],
        )
    failed_here = sum(1 for f in batch.failures.values() if f.phase == key.to_user_string())
    context.log.info(
        f"{key.to_user_string()}: {len(documents)} done, {failed_here} failed, {result.seconds:.1f} s"
        + (f", {batch_metadata}" if batch_metadata else "")
    )


