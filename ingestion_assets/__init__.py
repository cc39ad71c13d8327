"""The ingestion assets, their phases, planning and the Definitions of the code location."""
