"""The stack's database, with the job repository, model registry, webhook outbox and event bus
on it: what the stack's services run on and the admin commands open."""

from __future__ import annotations

from collections.abc import Iterator

from dependency_injector import containers, providers

from dreamforge_adapters.postgres import (
    PostgresDatabase,
    PostgresEventBus,
    PostgresJobRepo,
    PostgresModelRegistry,
    PostgresWebhookOutbox,
    check_schema,
)
from dreamforge_apps.bootstrap.stores import no_bell, no_bodies


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


class PostgresStores(containers.DeclarativeContainer):
    dsn = providers.Dependency(instance_of=str)
    pool_size = providers.Dependency(instance_of=int, default=1)
    listen = providers.Dependency(instance_of=bool, default=False)
    webhook_bodies = no_bodies()
    messages_stored = no_bell()
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
