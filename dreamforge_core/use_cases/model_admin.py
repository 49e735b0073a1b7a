"""Small registry edits of the admin CLI."""

from __future__ import annotations

from dataclasses import replace

from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.errors import NotFound
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.model_registry import ModelRegistry


def set_enabled(
    registry: ModelRegistry, clock: Clock, model_id: str, enabled: bool
) -> ModelDescriptor:
    """A disabled model stays registered and installed but is not listed or accepted by jobs."""
    model = registry.get(model_id)
    if model is None:
        raise NotFound(f"no model with id {model_id!r}")
    changed = replace(model, enabled=enabled, updated_at=clock.now())
    registry.upsert(changed)
    return changed
