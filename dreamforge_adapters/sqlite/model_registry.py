"""ModelRegistry on SQLite, in the same file (and connection) as the jobs."""

from __future__ import annotations

from os import PathLike

from dreamforge_adapters.sql.model_registry import SqlModelRegistry
from dreamforge_adapters.sqlite.codec import DIALECT
from dreamforge_adapters.sqlite.database import SqliteDatabase


class SqliteModelRegistry(SqlModelRegistry):
    """Models in a SQLite file. Give it the shared `SqliteDatabase`, or a path to own one."""

    def __init__(self, database: SqliteDatabase | str | PathLike[str]) -> None:
        self._owns_database = not isinstance(database, SqliteDatabase)
        self.database = (
            database if isinstance(database, SqliteDatabase) else SqliteDatabase(database)
        )
        super().__init__(self.database, DIALECT)

    def close(self) -> None:
        """Closes the database if this registry opened it."""
        if self._owns_database:
            self.database.close()
