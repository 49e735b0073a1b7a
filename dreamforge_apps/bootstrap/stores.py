"""The embedded deployment's database, with the job repository and model registry on it, and
what the stores of both databases share (the Postgres ones are in `postgres_stores`, so that
the embedded deployment and its admin commands never import the Postgres driver)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from dependency_injector import containers, providers

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


# A deployment gives the stores the writer of webhook bodies; the admin commands need none.
def no_bodies() -> providers.Dependency[WebhookBodies | None]:
    return providers.Dependency(default=providers.Object(None))


def no_bell() -> providers.Dependency[Callable[[], None] | None]:
    return providers.Dependency(default=providers.Object(None))


class SqliteStores(containers.DeclarativeContainer):
    path = providers.Dependency(instance_of=Path)
    webhook_bodies = no_bodies()
    messages_stored = no_bell()
    database = providers.Resource(sqlite_database, path)
    repo = providers.Singleton(
        SqliteJobRepo, database, webhook_bodies=webhook_bodies, messages_stored=messages_stored
    )
    registry = providers.Singleton(SqliteModelRegistry, database)
    outbox = providers.Singleton(SqliteWebhookOutbox, database)
