"""ModelRegistry on SQLite, in the same file (and connection) as the jobs.

Limits are stored as a JSON object of ModelLimits fields: a field this code does not know is
ignored and a missing one takes its default, so adding a limit needs no migration.
"""

from __future__ import annotations

from datetime import datetime
from os import PathLike
from typing import Any

from dreamforge_adapters.sqlite.codec import dumps, loads
from dreamforge_adapters.sqlite.database import SqliteDatabase
from dreamforge_core.domain.clock import iso
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.params import ModelLimits
from dreamforge_core.ports.model_registry import ModelRegistry

_COLUMNS = (
    "id, name, kind, version, checkpoint_hash, source_uri, local_path, installed, enabled, "
    "limits, capabilities, provenance, created_at, updated_at, schema_version"
)
_GET = f"SELECT {_COLUMNS} FROM models WHERE id = ?"
_LIST = f"SELECT {_COLUMNS} FROM models WHERE enabled OR ? ORDER BY id"
_UPSERT = (
    f"INSERT INTO models ({_COLUMNS}) VALUES ({', '.join('?' * 15)}) "
    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, "
    "version = excluded.version, checkpoint_hash = excluded.checkpoint_hash, "
    "source_uri = excluded.source_uri, local_path = excluded.local_path, "
    "installed = excluded.installed, enabled = excluded.enabled, limits = excluded.limits, "
    "capabilities = excluded.capabilities, provenance = excluded.provenance, "
    "updated_at = excluded.updated_at, schema_version = excluded.schema_version"
)  # created_at is left alone: an upsert keeps when the model was first registered


class SqliteModelRegistry(ModelRegistry):
    """Models in a SQLite file. Give it the shared `SqliteDatabase`, or a path to own one."""

    def __init__(self, database: SqliteDatabase | str | PathLike[str]) -> None:
        self._owns_database = not isinstance(database, SqliteDatabase)
        self.database = (
            database if isinstance(database, SqliteDatabase) else SqliteDatabase(database)
        )

    def close(self) -> None:
        """Closes the database if this registry opened it."""
        if self._owns_database:
            self.database.close()

    def get(self, model_id: str) -> ModelDescriptor | None:
        with self.database.read() as conn:
            row = conn.execute(_GET, (model_id,)).fetchone()
        return None if row is None else _model(row)

    def list(self, *, include_disabled: bool = False) -> list[ModelDescriptor]:
        with self.database.read() as conn:
            rows = conn.execute(_LIST, (include_disabled,)).fetchall()
        return [_model(r) for r in rows]

    def upsert(self, model: ModelDescriptor) -> None:
        row = _row(model)
        with self.database.write() as conn:
            conn.execute(_UPSERT, row)


def _row(m: ModelDescriptor) -> tuple[Any, ...]:
    return (
        m.id, m.name, m.kind, m.version, m.checkpoint_hash, m.source_uri, m.local_path,
        m.installed, m.enabled, dumps(m.limits.to_dict()), dumps(list(m.capabilities)),
        dumps(m.provenance),
        iso(m.created_at), iso(m.updated_at), m.schema_version,
    )  # fmt: skip


def _model(row: tuple[Any, ...]) -> ModelDescriptor:
    return ModelDescriptor(
        id=row[0], name=row[1], kind=row[2], version=row[3], checkpoint_hash=row[4],
        source_uri=row[5], local_path=row[6], installed=bool(row[7]), enabled=bool(row[8]),
        limits=ModelLimits.from_dict(loads(row[9])), capabilities=loads(row[10]),
        provenance=loads(row[11]),
        created_at=datetime.fromisoformat(row[12]), updated_at=datetime.fromisoformat(row[13]),
        schema_version=row[14],
    )  # fmt: skip
