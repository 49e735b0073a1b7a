"""The model registry for admin commands: Postgres when the stack is configured, else the
embedded SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dreamforge_apps.settings import Settings
from dreamforge_core.ports.model_registry import ModelRegistry


@contextmanager
def open_registry(settings: Settings) -> Iterator[ModelRegistry]:
    if settings.database_url:
        from dreamforge_adapters.postgres import (
            PostgresDatabase,
            PostgresModelRegistry,
            check_schema,
        )

        with PostgresDatabase(settings.database_url, max_size=1) as database:
            check_schema(database)
            yield PostgresModelRegistry(database)
        return
    from dreamforge_adapters.sqlite import SqliteDatabase, SqliteModelRegistry

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with SqliteDatabase(settings.data_dir / "dreamforge.sqlite3") as database:
        yield SqliteModelRegistry(database)
