import dagster as dg

documents_partitions = dg.DynamicPartitionsDefinition(name="documents")
"""One partition per document; the key is its path relative to the source root."""
