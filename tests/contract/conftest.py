"""One fixture per port, parametrised over every implementation of it.

A contract test asks for `job_repo`, `model_registry` or `event_bus` and runs once per backend,
so the embedded and stack deployments behave exactly like the fakes the unit tests trust.

Postgres cases run on the server of DREAMFORGE_TEST_POSTGRES_DSN, each in a fresh database
cloned from a template migrated once per session, and dropped afterwards. Without a server
they are skipped, except in CI (CI=true), where real-service tests must fail instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dreamforge_adapters.inprocess import InProcessEventBus
from dreamforge_adapters.memory import MemoryJobRepo, MemoryModelRegistry
from dreamforge_adapters.postgres import (
    PostgresDatabase,
    PostgresEventBus,
    PostgresJobRepo,
    PostgresModelRegistry,
)
from dreamforge_adapters.postgres.webhook_outbox import PostgresWebhookOutbox
from dreamforge_adapters.sqlite import SqliteDatabase, SqliteJobRepo, SqliteModelRegistry
from dreamforge_adapters.sqlite.webhook_outbox import SqliteWebhookOutbox
from dreamforge_core.domain.job import Job
from dreamforge_core.domain.webhooks import WebhookDraft
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.ports.webhooks import WebhookOutbox


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


@pytest.fixture(params=["memory", "sqlite", "postgres", "postgres-announcing"])
def job_repo(request: pytest.FixtureRequest, sqlite_path: Path) -> Iterator[JobRepo]:
    if request.param == "memory":
        yield MemoryJobRepo()
        return
    if request.param.startswith("postgres"):  # asked for lazily: the others need no server
        database = request.getfixturevalue("postgres_database")
        yield PostgresJobRepo(database, announce=request.param == "postgres-announcing")
        return
    database = SqliteDatabase(sqlite_path)
    yield SqliteJobRepo(database)
    database.close()


class StubBodies:
    """A body that names the event and the job's state when the message was stored."""

    def body(self, job: Job, draft: WebhookDraft) -> str:
        return f'{{"type": "{draft.type}", "state": "{job.state.value}"}}'


@pytest.fixture(params=["memory", "sqlite", "postgres", "postgres-announcing"])
def webhook_store(
    request: pytest.FixtureRequest, sqlite_path: Path
) -> Iterator[tuple[JobRepo, WebhookOutbox]]:
    """A job repository that stores webhook messages, and the outbox they wait in."""
    if request.param == "memory":
        memory = MemoryJobRepo(webhook_bodies=StubBodies())
        yield memory, memory
        return
    if request.param.startswith("postgres"):
        database = request.getfixturevalue("postgres_database")
        announce = request.param == "postgres-announcing"
        repo = PostgresJobRepo(database, announce=announce, webhook_bodies=StubBodies())
        yield repo, PostgresWebhookOutbox(database, announce=announce)
        return
    sqlite = SqliteDatabase(sqlite_path)
    yield SqliteJobRepo(sqlite, webhook_bodies=StubBodies()), SqliteWebhookOutbox(sqlite)
    sqlite.close()


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
