"""The model registry for admin commands: Postgres when the stack is configured, else the
embedded SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dreamforge_apps.bootstrap.lifecycle import stop
from dreamforge_apps.bootstrap.stores import PostgresStores, SqliteStores
from dreamforge_apps.settings import Settings
from dreamforge_core.ports.model_registry import ModelRegistry


@contextmanager
def open_registry(settings: Settings) -> Iterator[ModelRegistry]:
    stores: PostgresStores | SqliteStores = (
        PostgresStores(dsn=settings.database_url)
        if settings.database_url
        else SqliteStores(path=settings.data_dir / "dreamforge.sqlite3")
    )
    try:
        yield stores.registry()
    finally:
        stop(stores)
