"""ModelRegistry on PostgreSQL, in the same database (and pool) as the jobs."""

from __future__ import annotations

from dreamforge_adapters.postgres.codec import DIALECT
from dreamforge_adapters.postgres.database import PostgresDatabase
from dreamforge_adapters.sql.model_registry import SqlModelRegistry


class PostgresModelRegistry(SqlModelRegistry):
    """Models in PostgreSQL, through the process's shared `PostgresDatabase`."""

    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database
        super().__init__(database, DIALECT)
