"""The two databases, each with the job repository and model registry on it: what the
deployments run on and the admin commands open."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from dependency_injector import containers, providers

from dreamforge_adapters.postgres import (
    PostgresDatabase,
    PostgresEventBus,
    PostgresJobRepo,
    PostgresModelRegistry,
    PostgresWebhookOutbox,
    check_schema,
)
from dreamforge_adapters.sqlite import (
    SqliteDatabase,
    SqliteJobRepo,
    SqliteModelRegistry,
    SqliteWebhookOutbox,
)
from dreamforge_core.ports.webhooks import WebhookBodies


def sqlite_database(path: Path) -> Iterator[SqliteDatabase]:
    """Opens the file, migrating it to this code's schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    database = SqliteDatabase(path)
    yield database
    database.close()


def postgres_database(dsn: str, pool_size: int) -> Iterator[PostgresDatabase]:
    """A connection pool on a database whose schema must be this code's (`dreamforge db
    migrate` brings it there)."""
    database = PostgresDatabase(dsn, max_size=pool_size)
    database.open()
    try:
        check_schema(database)
    except BaseException:
        database.close()
        raise
    yield database
    database.close()


def postgres_event_bus(
    database: PostgresDatabase, repo: PostgresJobRepo, listen: bool
) -> Iterator[PostgresEventBus]:
    """The repository announces each saved event; `listen` also starts the LISTEN connection
    that feeds this process's SSE streams."""
    bus = PostgresEventBus(database, source=repo, announced_by_repo=True)
    if listen:
        bus.start()
    yield bus
    bus.close()


# A deployment gives the stores the writer of webhook bodies; the admin commands need none.
def _no_bodies() -> providers.Dependency[WebhookBodies | None]:
    return providers.Dependency(default=providers.Object(None))


def _no_bell() -> providers.Dependency[Callable[[], None] | None]:
    return providers.Dependency(default=providers.Object(None))


class SqliteStores(containers.DeclarativeContainer):
    path = providers.Dependency(instance_of=Path)
    webhook_bodies = _no_bodies()
    messages_stored = _no_bell()
    database = providers.Resource(sqlite_database, path)
    repo = providers.Singleton(
        SqliteJobRepo, database, webhook_bodies=webhook_bodies, messages_stored=messages_stored
    )
    registry = providers.Singleton(SqliteModelRegistry, database)
    outbox = providers.Singleton(SqliteWebhookOutbox, database)


class PostgresStores(containers.DeclarativeContainer):
    dsn = providers.Dependency(instance_of=str)
    pool_size = providers.Dependency(instance_of=int, default=1)
    listen = providers.Dependency(instance_of=bool, default=False)
    webhook_bodies = _no_bodies()
    messages_stored = _no_bell()
    database = providers.Resource(postgres_database, dsn, pool_size)
    repo = providers.Singleton(
        PostgresJobRepo,
        database,
        announce=True,
        webhook_bodies=webhook_bodies,
        messages_stored=messages_stored,
    )
    registry = providers.Singleton(PostgresModelRegistry, database)
    outbox = providers.Singleton(PostgresWebhookOutbox, database, announce=True)
    bus = providers.Resource(postgres_event_bus, database, repo, listen)
