"""The real PostgreSQL and Redis servers the production tests use, and the rule when one is missing:
skip, or fail when INGEST_REQUIRE_POSTGRES=1 (CI).

PostgreSQL is given by the libpq variables PGHOST, PGPORT, PGUSER and PGPASSWORD (default
127.0.0.1:5432, user postgres), Redis by INGEST_TEST_REDIS_URL (default redis://127.0.0.1:6379).
"""

from __future__ import annotations

import os
from typing import NoReturn

import psycopg2
import pytest

PG_HOST = os.environ.get("PGHOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PGPORT", "5432"))
PG_USER = os.environ.get("PGUSER", "postgres")
PG_PASSWORD = os.environ.get("PGPASSWORD", "")
MAINTENANCE_DATABASES = ("postgres", "test")
REDIS_URL = os.environ.get("INGEST_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when the environment requires the real services (INGEST_REQUIRE_POSTGRES=1)."""
    if os.environ.get("INGEST_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason} (INGEST_REQUIRE_POSTGRES=1 requires it)", pytrace=False)
    pytest.skip(reason)


def admin_connection() -> psycopg2.extensions.connection:
    """An autocommit connection to a maintenance database, for CREATE and DROP DATABASE."""
    errors = []
    for dbname in MAINTENANCE_DATABASES:
        try:
            connection = psycopg2.connect(
                host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD, dbname=dbname, connect_timeout=5
            )
        except psycopg2.OperationalError as exc:
            errors.append(f"{dbname}: {' '.join(str(exc).split())}")
            continue
        connection.autocommit = True
        return connection
    unavailable(f"no PostgreSQL reachable at {PG_HOST}:{PG_PORT} as {PG_USER} ({'; '.join(errors)})")
