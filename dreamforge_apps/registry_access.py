"""The model registry for admin commands: Postgres when the stack is configured, else the
embedded SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from dreamforge_apps.bootstrap.lifecycle import stop
from dreamforge_apps.bootstrap.stores import SqliteStores
from dreamforge_apps.settings import Settings
from dreamforge_core.ports.model_registry import ModelRegistry

if TYPE_CHECKING:
    from dreamforge_apps.bootstrap.postgres_stores import PostgresStores


@contextmanager
def open_registry(settings: Settings) -> Iterator[ModelRegistry]:
    stores: PostgresStores | SqliteStores
    if settings.database_url:
        # imported here: a command on the embedded deployment needs no Postgres driver
        from dreamforge_apps.bootstrap.postgres_stores import PostgresStores

        stores = PostgresStores(dsn=settings.database_url)
    else:
        stores = SqliteStores(path=settings.data_dir / "dreamforge.sqlite3")
    try:
        yield stores.registry()
    finally:
        stop(stores)
