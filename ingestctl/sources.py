"""`ingestctl drop-source`: remove everything a source left behind once it is no longer configured."""

from __future__ import annotations

import sys

from ingestctl.instance import CliContext
from resources.tables import DEFAULT_SOURCE, TABLES


def run_drop_source(name: str, confirmed: bool) -> int:
    """Delete the rows (`source = name`, embeddings first), the partitions and the asset history of a source that
    sources.yaml no longer names. Without `confirmed`, only say what would go."""
    from ingestion_assets.keys import Family, check_source_name

    cli = CliContext.from_env()
    if name == DEFAULT_SOURCE:
        print("ingestctl drop-source: the default source (INGEST_SOURCE_DIR) cannot be dropped", file=sys.stderr)
        return 2
    try:
        family = Family(check_source_name(name))
    except ValueError as exc:
        print(f"ingestctl drop-source: {exc}", file=sys.stderr)
        return 2
    if name in cli.settings.source_names:
        print(
            f"ingestctl drop-source: {name!r} is still configured in the sources file; remove it there first "
            "(and reload the code location), or its sensor ingests it again",
            file=sys.stderr,
        )
        return 2
    instance = cli.instance
    partitions = list(instance.get_dynamic_partitions(family.partitions.name))
    rows = {table: len(cli.store.document_ids(table, source=name)) for table in reversed(TABLES)}
    what = f"source {name!r}: {len(partitions)} partition(s); documents with rows per table {rows}"
    if not confirmed:
        print(f"would remove {what}, and the history of its assets; run again with --yes to do it")
        return 0
    deleted = cli.store.delete_source(name)
    for key in partitions:
        instance.delete_dynamic_partition(family.partitions.name, key)
    instance.wipe_assets([*family.phase_keys, family.source_files_key, family.source_deletions_key])
    print(f"removed {what}: rows deleted per table {deleted}")
    return 0
