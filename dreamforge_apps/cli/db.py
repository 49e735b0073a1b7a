"""`dreamforge db migrate`: the schema of the configured database."""

from __future__ import annotations

import click

from dreamforge_apps.cli.context import cli_settings


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command()
def migrate() -> None:
    """Apply schema migrations to the configured database (Postgres when
    DREAMFORGE_DATABASE_URL is set, else the embedded SQLite file). Safe to run concurrently."""
    settings = cli_settings()
    if settings.database_url:
        from dreamforge_adapters.postgres import PostgresDatabase, migrate, schema_version

        with PostgresDatabase(settings.database_url, max_size=1) as database:
            applied = migrate(database)
            version = schema_version(database)
        click.echo(f"applied {applied or 'nothing'}; Postgres schema at version {version}")
        return
    from dreamforge_adapters.sqlite import SqliteDatabase

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "dreamforge.sqlite3"
    with SqliteDatabase(path) as database:
        click.echo(f"SQLite schema at version {database.schema_version}: {path}")
