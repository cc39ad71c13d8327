"""PostgreSQL-backed Dagster instances for tests: `deploy/dagster.yaml` against the real server.

Each test session creates a database of its own, `ingest_test_<random>`, and drops it at the end.
Test modules load these fixtures with `pytest_plugins = ["tests.postgres_fixtures"]`.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
from psycopg2 import sql

from tests.conftest import REPO
from tests.services import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER, admin_connection, unavailable


def _admin(statement: sql.Composable) -> None:
    connection = admin_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[dict[str, str]]:
    """A database of this test session's own; yields the DAGSTER_PG_* variables naming it."""
    name = f"ingest_test_{secrets.token_hex(4)}"
    try:
        _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg2.Error as exc:
        unavailable(f"cannot create a test database on {PG_HOST}:{PG_PORT}: {str(exc).strip()}")
    try:
        yield {
            "DAGSTER_PG_HOST": PG_HOST,
            "DAGSTER_PG_PORT": str(PG_PORT),
            "DAGSTER_PG_USERNAME": PG_USER,
            "DAGSTER_PG_PASSWORD": PG_PASSWORD,
            "DAGSTER_PG_DB": name,
        }
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg_home(tmp_path, pg_database, monkeypatch) -> Path:
    """A DAGSTER_HOME holding deploy/dagster.yaml, with DAGSTER_HOME and DAGSTER_PG_* set for this
    process and the processes it starts."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name, value in pg_database.items():
        monkeypatch.setenv(name, value)
    return home


@pytest.fixture
def pg_instance(pg_home) -> Iterator[dg.DagsterInstance]:
    """The PostgreSQL-backed instance, emptied for this test (runs, events, partitions, ticks)."""
    with dg.DagsterInstance.get() as instance:
        instance.wipe()
        instance.wipe_all_schedules()
        yield instance
