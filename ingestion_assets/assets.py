"""`documents`, `chunks` and `embeddings`: three partitioned assets computed in one step per batch.

One step per batch means one model load per run and chunks of many documents embedded
together. The step logs an `AssetMaterialization` per document and phase that succeeded and
then raises `Failure` naming the documents that did not, so every partition of every asset gets
its own status: a bad document never fails the others of its batch.
"""

from collections.abc import Iterator
from functools import partial

import dagster as dg
import pyarrow as pa

from ingestion_assets.batch import BatchIngestion, PhaseResult
from ingestion_assets.chunking import TokenChunker
from ingestion_assets.dagster_compat import TableMetadataSet, latest_materialization_ids, lineage_tags
from ingestion_assets.keys import POOL, Family
from ingestion_assets.parsing import ParseLimits
from ingestion_assets.phase_versions import PhaseVersions
from resources.chunker_config import ChunkerConfig
from resources.document_source import DocumentSource
from resources.embedding_model import EmbeddingModel
from resources.lancedb_store import LanceDBStore
from resources.parser_config import ParserConfig
from resources.tables import CHUNKS, DOCUMENTS, EMBEDDINGS, TABLES, ChunkRow, DocumentRow, EmbeddingRow

MAX_LISTED_FAILURES = 50


def _table_metadata(name: str, schema: pa.Schema) -> dict:
    columns = dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in schema])
    return dict(TableMetadataSet(column_schema=columns, table_name=name, storage_kind="lancedb"))


PHASE_DESCRIPTIONS = {
    DOCUMENTS: (
        "Parsed text of each source file as Markdown, with page (slide, sheet) boundaries, headings "
        "and tables: PDF and the other PyMuPDF formats, Word, PowerPoint, Excel, OpenDocument, CSV, "
        "e-mail, scans and images (OCR), text in any encoding, HTML. LanceDB table `documents`, "
        "one row per document."
    ),
    CHUNKS: (
        "Passages of each document sized in the embedding model's own tokens, section by section "
        "(long tables split by rows, their header repeated), with page and character spans. "
        "LanceDB table `chunks`."
    ),
    EMBEDDINGS: (
        "Unit-norm sentence-transformers vectors of every chunk, ready for vector and hybrid "
        "search. LanceDB table `embeddings`."
    ),
}
PHASE_KINDS = {
    DOCUMENTS: {"pymupdf", "lancedb"},
    CHUNKS: {"langchain", "lancedb"},
    EMBEDDINGS: {"sentence-transformers", "lancedb"},
}


def _phase_specs(family: Family, versions: PhaseVersions, dimensions: int) -> list[dg.AssetSpec]:
    schemas = {DOCUMENTS: DocumentRow.schema(), CHUNKS: ChunkRow.schema(), EMBEDDINGS: EmbeddingRow.schema(dimensions)}
    origin = "" if family.is_default else f" Source `{family.source}` (rows with `source = '{family.source}'`)."
    return [
        dg.AssetSpec(
            key,
            deps=[family.upstream[key]] if key in family.upstream else [],
            description=PHASE_DESCRIPTIONS[table] + origin,
            code_version=versions.code_versions[table],
            kinds=PHASE_KINDS[table],
            metadata=_table_metadata(table, schemas[table]),
            group_name=family.group,
            skippable=True,
        )
        for table, key in zip(TABLES, family.phase_keys, strict=True)
    ]


def build_ingest_documents(
    family: Family, versions: PhaseVersions, dimensions: int, max_docs_per_run: int
) -> dg.AssetsDefinition:
    """The multi-asset of one source, with code versions and the vector size of the configured resources."""

    @dg.multi_asset(
        name="ingest_documents" if family.is_default else f"{family.source}_ingest_documents",
        specs=_phase_specs(family, versions, dimensions),
        partitions_def=family.partitions,
        can_subset=True,
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=max_docs_per_run),
        pool=POOL,
        required_resource_keys={family.resource_key, "parser", "chunker", "lancedb", "embedder"},
    )
    def ingest_documents(context: dg.AssetExecutionContext):
        source: DocumentSource = getattr(context.resources, family.resource_key)
        parser: ParserConfig = context.resources.parser
        chunker: ChunkerConfig = context.resources.chunker
        lancedb: LanceDBStore = context.resources.lancedb
        embedder: EmbeddingModel = context.resources.embedder
        phases = sorted(k.path[-1] for k in context.selected_asset_keys)
        context.log.info(f"ingesting {len(context.partition_keys)} document(s): phases {phases}")
        batch = BatchIngestion(
            context.partition_keys,
            source=source,
            limits=ParseLimits.of(parser.resolved(source)),
            make_chunker=partial(TokenChunker.configured, chunker, embedder),
            store=lancedb,
            embedder=embedder,
            log=context.log.info,
        )
        run_versions = PhaseVersions.of(chunker, embedder)
        for result in batch.run(phases):
            yield from _materializations(context, family, run_versions, batch, result)

        if batch.failures:
            yield from _failure_observations(family, batch)
            failed = list(batch.failures.values())
            listed = "\n".join(f"- {f}" for f in failed[:MAX_LISTED_FAILURES])
            more = f"\n- ... and {len(failed) - MAX_LISTED_FAILURES} more" if len(failed) > MAX_LISTED_FAILURES else ""
            raise dg.Failure(
                description=f"{len(failed)} of {len(batch.doc_ids)} document(s) failed:\n{listed}{more}",
                metadata={"failed_documents": [f.doc_id for f in failed]},
                allow_retries=False,
            )

    return ingest_documents


def _failure_observations(family: Family, batch: BatchIngestion) -> Iterator[dg.AssetObservation]:
    for failure in batch.failures.values():
        yield dg.AssetObservation(
            asset_key=family.phase_key(failure.phase),
            partition=failure.doc_id,
            metadata={"error": failure.reason, "phase": failure.phase, **batch.file_metadata.get(failure.doc_id, {})},
        )


def _materializations(
    context: dg.AssetExecutionContext,
    family: Family,
    versions: PhaseVersions,
    batch: BatchIngestion,
    result: PhaseResult,
) -> Iterator[dg.AssetMaterialization]:
    """One materialization per document that completed the phase, tagged with its lineage."""
    key = family.phase_key(result.phase)
    documents = [d for d in batch.doc_ids if d in result.metadata]
    upstream = family.upstream.get(key)
    pointers = latest_materialization_ids(context.instance, upstream, documents) if upstream and documents else {}
    code_version = versions.code_versions[result.phase]
    write_metadata = result.write.as_metadata() if result.write else {}
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
        tags = lineage_tags(
            code_version,
            batch.data_version(result.phase, doc_id),
            upstream,
            batch.data_version(upstream.path[-1], doc_id) if upstream else None,
            pointers.get(doc_id),
        )
        yield dg.AssetMaterialization(
            asset_key=key,
            partition=doc_id,
            metadata={
                **metadata,
                **result.batch_metadata,
                **write_metadata,
                **TableMetadataSet(partition_row_count=rows),
                "phase_seconds": round(result.seconds, 3),
            },
            tags=tags,
        )
    failed_here = sum(1 for f in batch.failures.values() if f.phase == result.phase)
    context.log.info(
        f"{result.phase}: {len(documents)} done, {failed_here} failed, {result.seconds:.1f} s"
        + (f", {result.batch_metadata}" if result.batch_metadata else "")
        + (f", commit {write_metadata}" if write_metadata else "")
    )
