"""One fixture per port, parametrised over every implementation of it.

A contract test asks for `job_repo`, `model_registry` or `event_bus` and runs once per backend,
so the embedded and stack deployments behave exactly like the fakes the unit tests trust.

Postgres cases run on the server of DREAMFORGE_TEST_POSTGRES_DSN, each in a fresh database
cloned from a template migrated once per session, and dropped afterwards. Without a server
they are skipped, except in CI (CI=true), where real-service tests must fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from dreamforge_adapters.inprocess import InProcessEventBus
from dreamforge_adapters.memory import MemoryJobRepo, MemoryModelRegistry
from dreamforge_adapters.postgres import (
    PostgresDatabase,
    PostgresEventBus,
    PostgresJobRepo,
    PostgresModelRegistry,
    migrate,
)
from dreamforge_adapters.sqlite import SqliteDatabase, SqliteJobRepo, SqliteModelRegistry
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.model_registry import ModelRegistry

POSTGRES_DSN = os.environ.get(
    "DREAMFORGE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


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
        why = f"PostgreSQL is not answering at {POSTGRES_DSN}: {e}"
        if IN_CI:
            pytest.fail(f"{why} (CI=true: real-service tests must not skip)")
        pytest.skip(why)
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


@pytest.fixture
def postgres_database(postgres_dsn: str) -> Iterator[PostgresDatabase]:
    database = PostgresDatabase(postgres_dsn, min_size=1, max_size=8, timeout=5.0)
    database.open(wait=True)
    yield database
    database.close()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """A fresh database file; tests reopen it to check what survives."""
    return tmp_path / "dreamforge.sqlite3"


@pytest.fixture
def sqlite_database(sqlite_path: Path) -> Iterator[SqliteDatabase]:
    database = SqliteDatabase(sqlite_path)
    yield database
    database.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def job_repo(request: pytest.FixtureRequest, sqlite_path: Path) -> Iterator[JobRepo]:
    if request.param == "memory":
        yield MemoryJobRepo()
        return
    if request.param == "postgres":  # asked for lazily: the other cases need no server
        yield PostgresJobRepo(request.getfixturevalue("postgres_database"))
        return
    database = SqliteDatabase(sqlite_path)
    yield SqliteJobRepo(database)
    database.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def model_registry(request: pytest.FixtureRequest, sqlite_path: Path) -> Iterator[ModelRegistry]:
    if request.param == "memory":
        yield MemoryModelRegistry()
        return
    if request.param == "postgres":
        yield PostgresModelRegistry(request.getfixturevalue("postgres_database"))
        return
    database = SqliteDatabase(sqlite_path)
    yield SqliteModelRegistry(database)
    database.close()


@pytest.fixture(params=["inprocess", "postgres"])
def event_bus(request: pytest.FixtureRequest) -> Iterator[EventBus]:
    """A bus whose subscribers are ready: the Postgres listener is already LISTENing."""
    if request.param == "inprocess":
        yield InProcessEventBus()
        return
    database: PostgresDatabase = request.getfixturevalue("postgres_database")
    bus = PostgresEventBus(database, source=PostgresJobRepo(database))
    bus.start()
    assert bus.wait_until_listening(5.0), "the event listener did not connect"
    yield bus
    bus.close()
