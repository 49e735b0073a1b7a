"""ModelRegistry on PostgreSQL, in the same database (and pool) as the jobs.

Limits are stored as a JSON object of ModelLimits fields: a field this code does not know is
ignored and a missing one takes its default, so adding a limit needs no migration.
"""

from __future__ import annotations

from typing import Any

from dreamforge_adapters.postgres.codec import dumps
from dreamforge_adapters.postgres.database import PostgresDatabase
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.params import ModelLimits
from dreamforge_core.ports.model_registry import ModelRegistry

_COLUMNS = (
    "id, name, kind, version, checkpoint_hash, source_uri, local_path, installed, enabled, "
    "limits, capabilities, provenance, created_at, updated_at, schema_version"
)
_GET = f"SELECT {_COLUMNS} FROM models WHERE id = %s"
# Ordered by code point, as the other registries sort ids, whatever the database's collation.
_LIST = f'SELECT {_COLUMNS} FROM models WHERE enabled OR %s ORDER BY id COLLATE "C"'
_UPSERT = (
    f"INSERT INTO models ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
    "%s::jsonb, %s::jsonb, %s::jsonb, %s, %s, %s) "
    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, "
    "version = excluded.version, checkpoint_hash = excluded.checkpoint_hash, "
    "source_uri = excluded.source_uri, local_path = excluded.local_path, "
    "installed = excluded.installed, enabled = excluded.enabled, limits = excluded.limits, "
    "capabilities = excluded.capabilities, provenance = excluded.provenance, "
    "updated_at = excluded.updated_at, schema_version = excluded.schema_version"
)  # created_at is left alone: an upsert keeps when the model was first registered


class PostgresModelRegistry(ModelRegistry):
    """Models in PostgreSQL, through the process's shared `PostgresDatabase`."""

    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database

    def get(self, model_id: str) -> ModelDescriptor | None:
        if "\x00" in model_id:  # Postgres text cannot hold NUL, so no stored id has one
            return None
        with self.database.connection() as conn:
            row = conn.execute(_GET, (model_id,)).fetchone()
        return None if row is None else _model(row)

    def list(self, *, include_disabled: bool = False) -> list[ModelDescriptor]:
        with self.database.connection() as conn:
            rows = conn.execute(_LIST, (include_disabled,)).fetchall()
        return [_model(r) for r in rows]

    def upsert(self, model: ModelDescriptor) -> None:
        row = _row(model)
        with self.database.connection() as conn:
            conn.execute(_UPSERT, row)


def _row(m: ModelDescriptor) -> tuple[Any, ...]:
    return (
        m.id, m.name, m.kind, m.version, m.checkpoint_hash, m.source_uri, m.local_path,
        m.installed, m.enabled, dumps(m.limits.to_dict()), dumps(list(m.capabilities)),
        dumps(m.provenance),
        m.created_at, m.updated_at, m.schema_version,
    )  # fmt: skip


def _model(row: tuple[Any, ...]) -> ModelDescriptor:
    return ModelDescriptor(
        id=row[0], name=row[1], kind=row[2], version=row[3], checkpoint_hash=row[4],
        source_uri=row[5], local_path=row[6], installed=row[7], enabled=row[8],
        limits=ModelLimits.from_dict(row[9]), capabilities=row[10], provenance=row[11],
        created_at=row[12],
        updated_at=row[13], schema_version=row[14],
    )  # fmt: skip
