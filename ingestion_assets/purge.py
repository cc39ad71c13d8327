"""`purge_job`: removing the rows and partitions of documents whose files are gone."""

import dagster as dg

from ingestion_assets.deletions import purge
from ingestion_assets.keys import Family
from resources.lancedb_store import LanceDBStore
from resources.tables import DEFAULT_SOURCE


class PurgeConfig(dg.Config):
    doc_ids: list[str]
    source: str = DEFAULT_SOURCE


def purge_run_config(doc_ids: list[str], source: str = DEFAULT_SOURCE) -> dict:
    """The run config of a `purge_job` run purging `doc_ids` of `source`."""
    return {"ops": {"purge_documents": {"config": {"doc_ids": doc_ids, "source": source}}}}


@dg.op(
    description=(
        "Delete every row of the given documents of one source from `embeddings`, `chunks` and `documents` "
        "(one commit per table, in that order), then their partitions."
    )
)
def purge_documents(context: dg.OpExecutionContext, config: PurgeConfig, lancedb: LanceDBStore) -> None:
    deleted = purge(context.instance, lancedb, config.doc_ids, Family(config.source))
    context.log.info(
        f"purged {len(config.doc_ids)} document(s) of source {config.source}: rows deleted per table {deleted}"
    )
    context.add_output_metadata(
        {
            "source": config.source,
            "documents": len(config.doc_ids),
            **{f"{t}_rows_deleted": n for t, n in deleted.items()},
        }
    )


@dg.job(
    description=(
        "Purge documents whose source files were deleted: requested by the inbox sensor and the nightly purge, "
        "run by `ingestctl ingest`."
    ),
    executor_def=dg.in_process_executor,
    tags={"ingest/kind": "purge"},
)
def purge_job():
    purge_documents()
