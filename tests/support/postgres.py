"""A PostgreSQL server for tests: fresh databases cloned from a migrated template.

The server is DREAMFORGE_TEST_POSTGRES_DSN's (default: the local one). Without a server the
tests that need it are skipped, except in CI (CI=true), where real-service tests must fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from dreamforge_adapters.postgres import PostgresDatabase, migrate
from tests.support.services import unreachable

POSTGRES_DSN = os.environ.get(
    "DREAMFORGE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


class PostgresServer:
    """The test server, reached through its maintenance database: makes and drops databases."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.admin = psycopg.connect(dsn, autocommit=True, connect_timeout=3)

    def dsn_for(self, name: str) -> str:
        return make_conninfo(self.dsn, dbname=name)

    def create(self, prefix: str, *, template: str | None = None) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self.admin.execute(statement)
        return name

    def drop(self, name: str) -> None:
        # FORCE ends whatever a failed test left connected (a pool, a listener).
        self.admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    def terminate(self, pid: int) -> None:
        self.admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer(POSTGRES_DSN)
    except psycopg.OperationalError as e:
        unreachable(f"PostgreSQL is not answering at {POSTGRES_DSN}: {e}")
    yield server
    server.admin.close()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> Iterator[str]:
    """A migrated database to clone: copying it is much faster than migrating each time."""
    name = postgres_server.create("dreamforge_template")
    with PostgresDatabase(postgres_server.dsn_for(name), max_size=1) as database:
        migrate(database)
    yield name
    postgres_server.drop(name)


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer, postgres_template: str) -> Iterator[str]:
    """A fresh, migrated database of its own for one test."""
    name = postgres_server.create("dreamforge_test", template=postgres_template)
    yield postgres_server.dsn_for(name)
    postgres_server.drop(name)
