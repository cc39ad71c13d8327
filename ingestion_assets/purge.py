"""Removing the rows of documents whose files are gone (their partitions no longer exist)."""

import dagster as dg

from resources.lancedb_store import LanceDBStore


class PurgeConfig(dg.Config):
    doc_ids: list[str]


@dg.op(description="Delete every row of the given documents from `documents`, `chunks` and `embeddings`.")
def purge_documents(context: dg.OpExecutionContext, config: PurgeConfig, lancedb: LanceDBStore) -> None:
    deleted = lancedb.delete_documents(config.doc_ids)
    context.log.info(f"purged {len(config.doc_ids)} document(s): rows deleted per table {deleted}")
    context.add_output_metadata(
        {"documents": len(config.doc_ids), **{f"{t}_rows_deleted": n for t, n in deleted.items()}}
    )


@dg.job(
    description="Delete the LanceDB rows of documents whose source files were deleted (requested by the inbox sensor).",
    executor_def=dg.in_process_executor,
    tags={"ingest/kind": "purge"},
)
def purge_job():
    purge_documents()
