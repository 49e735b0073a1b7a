"""The ModelRegistry of both SQL stores, in the same database as their jobs.

Limits are stored as a JSON object of ModelLimits fields: a field this code does not know is
ignored and a missing one takes its default, so adding a limit needs no migration.
"""

from __future__ import annotations

from typing import Any

from dreamforge_adapters.sql.dialect import Dialect, Row, SqlStore
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.params import ModelLimits
from dreamforge_core.ports.model_registry import ModelRegistry

MODEL_COLUMNS = (
    "id", "name", "kind", "version", "checkpoint_hash", "source_uri", "local_path", "installed",
    "enabled", "limits", "capabilities", "provenance", "created_at", "updated_at",
    "schema_version",
)  # fmt: skip
_JSON_COLUMNS = frozenset({"limits", "capabilities", "provenance"})
_KEPT = frozenset({"id", "created_at"})  # an upsert keeps when the model was first registered


class SqlModelRegistry(ModelRegistry):
    """Models in a SQL database, through its `store` as its `dialect` spells it."""

    def __init__(self, store: SqlStore, dialect: Dialect) -> None:
        self._store = store
        self._dialect = dialect
        selected = f"SELECT {', '.join(MODEL_COLUMNS)} FROM models"
        self._get = f"{selected} WHERE id = {dialect.param('id')}"
        self._list = (
            f"{selected} WHERE enabled OR {dialect.param('include_disabled')} "
            f"ORDER BY id{dialect.text_order}"
        )
        marks = (
            dialect.json_param(c) if c in _JSON_COLUMNS else dialect.param(c) for c in MODEL_COLUMNS
        )
        updates = (f"{c} = excluded.{c}" for c in MODEL_COLUMNS if c not in _KEPT)
        self._upsert = (
            f"INSERT INTO models ({', '.join(MODEL_COLUMNS)}) VALUES ({', '.join(marks)}) "
            f"ON CONFLICT (id) DO UPDATE SET {', '.join(updates)}"
        )

    def get(self, model_id: str) -> ModelDescriptor | None:
        if "\x00" in model_id and not self._dialect.text_holds_nul:
            return None
        rows = self._store.fetch(self._get, {"id": model_id})
        return self._model(rows[0]) if rows else None

    def list(self, *, include_disabled: bool = False) -> list[ModelDescriptor]:
        rows = self._store.fetch(self._list, {"include_disabled": include_disabled})
        return [self._model(r) for r in rows]

    def upsert(self, model: ModelDescriptor) -> None:
        self._store.execute(self._upsert, self._record(model))

    def _record(self, m: ModelDescriptor) -> dict[str, Any]:
        v = self._dialect.values
        return {
            "id": m.id, "name": m.name, "kind": m.kind, "version": m.version,
            "checkpoint_hash": m.checkpoint_hash, "source_uri": m.source_uri,
            "local_path": m.local_path, "installed": m.installed, "enabled": m.enabled,
            "limits": v.json_out(m.limits.to_dict()),
            "capabilities": v.json_out(list(m.capabilities)),
            "provenance": v.json_out(m.provenance), "created_at": v.time_out(m.created_at),
            "updated_at": v.time_out(m.updated_at), "schema_version": m.schema_version,
        }  # fmt: skip

    def _model(self, row: Row) -> ModelDescriptor:
        v = self._dialect.values
        return ModelDescriptor(
            id=row["id"], name=row["name"], kind=row["kind"], version=row["version"],
            checkpoint_hash=row["checkpoint_hash"], source_uri=row["source_uri"],
            local_path=row["local_path"], installed=bool(row["installed"]),
            enabled=bool(row["enabled"]), limits=ModelLimits.from_dict(v.json_in(row["limits"])),
            capabilities=v.json_in(row["capabilities"]), provenance=v.json_in(row["provenance"]),
            created_at=v.time_in(row["created_at"]), updated_at=v.time_in(row["updated_at"]),
            schema_version=row["schema_version"],
        )  # fmt: skip
