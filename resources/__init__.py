"""Dagster resources: the document source, the LanceDB store, the embedding model, and the settings that configure them."""
