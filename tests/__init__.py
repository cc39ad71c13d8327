"""The test suite: real Dagster, LanceDB, model, PostgreSQL, Celery, daemon and browser."""
