from __future__ import annotations

import copy
import threading

from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.ports.model_registry import ModelRegistry


class MemoryModelRegistry(ModelRegistry):
    def __init__(self, models: list[ModelDescriptor] | None = None) -> None:
        self._lock = threading.Lock()
        self._models = {m.id: copy.deepcopy(m) for m in models or []}

    def get(self, model_id: str) -> ModelDescriptor | None:
        with self._lock:
            model = self._models.get(model_id)
            return copy.deepcopy(model) if model else None

    def list(self, *, include_disabled: bool = False) -> list[ModelDescriptor]:
        with self._lock:
            return [
                copy.deepcopy(m)
                for m in sorted(self._models.values(), key=lambda m: m.id)
                if include_disabled or m.enabled
            ]

    def upsert(self, model: ModelDescriptor) -> None:
        with self._lock:
            existing = self._models.get(model.id)
            stored = copy.deepcopy(model)
            if existing is not None:
                stored.created_at = existing.created_at
            self._models[model.id] = stored
