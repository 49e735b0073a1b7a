from __future__ import annotations

from typing import Protocol

from dreamforge_core.domain.model import ModelDescriptor


class ModelRegistry(Protocol):
    """Registered models with their install state and limits."""

    def get(self, model_id: str) -> ModelDescriptor | None: ...

    def list(self, *, include_disabled: bool = False) -> list[ModelDescriptor]: ...

    def upsert(self, model: ModelDescriptor) -> None: ...
