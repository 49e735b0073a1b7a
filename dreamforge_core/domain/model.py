"""Model descriptors: what the registry knows about one installed (or known) model."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dreamforge_core.domain.clock import iso
from dreamforge_core.domain.params import ModelLimits, parameters_schema
from dreamforge_core.domain.presets import DEFAULT_PRESETS

MODEL_SCHEMA_VERSION = 1
DEMO_MODEL_ID = "demo-sdxl-tiny"  # `dreamforge model create-demo`
_NOT_IN_ID = re.compile(r"[^a-z0-9._-]+")


def id_slug(text: str) -> str:
    """`text` reduced to what a model id may hold (`[a-z0-9._-]`), never starting or ending
    with '.' or '-'; empty when nothing is left."""
    return _NOT_IN_ID.sub("-", text.lower()).strip(".-")


@dataclass(slots=True)
class ModelDescriptor:
    id: str
    name: str
    kind: str  # sdxl-checkpoint, sdxl-diffusers, fake, …
    version: str
    created_at: datetime
    updated_at: datetime
    checkpoint_hash: str | None = None  # full sha256 of the weights file
    source_uri: str | None = None
    local_path: str | None = None
    installed: bool = False
    enabled: bool = True
    limits: ModelLimits = field(default_factory=ModelLimits)
    capabilities: list[str] = field(default_factory=lambda: ["generate"])
    provenance: dict[str, Any] = field(default_factory=dict)
    schema_version: int = MODEL_SCHEMA_VERSION

    @property
    def short_hash(self) -> str | None:
        """The 10-hex form AUTOMATIC1111 writes as `Model hash`."""
        return self.checkpoint_hash[:10] if self.checkpoint_hash else None

    @property
    def parameters_schema(self) -> dict[str, Any]:
        return parameters_schema(self.limits, DEFAULT_PRESETS)

    def to_dict(self) -> dict[str, Any]:
        """The descriptor as `dreamforge model install` writes it beside the weights: the
        limits as the parameters' schema, the times in ISO 8601."""
        return {
            **{name: getattr(self, name) for name in _AS_STORED},
            "parameters_schema": self.parameters_schema,
            "capabilities": list(self.capabilities),
            "provenance": dict(self.provenance),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


_AS_STORED = ("id", "name", "kind", "version", "installed", "enabled", "checkpoint_hash",
              "source_uri", "local_path", "schema_version")  # fmt: skip


def choose_default_model(models: Iterable[ModelDescriptor]) -> ModelDescriptor | None:
    """The model a job naming none gets when the operator configured no default: among the
    installed, enabled SDXL models, one whose name or id contains "epicrealism"; else the first
    (by id) that is not a demo model; else the demo model; None when there is none.

    The rule runs at each job creation, so a model installed while the server runs counts
    at once."""
    installed = sorted(
        (
            m
            for m in models
            if m.installed and m.enabled and m.kind.startswith("sdxl") and m.kind != "sdxl-lora"
        ),
        key=lambda m: m.id,
    )
    real = [m for m in installed if not m.id.startswith("demo-")]
    for m in real:
        if "epicrealism" in (m.name + m.id).lower():
            return m
    if real:
        return real[0]
    return next((m for m in installed if m.id == DEMO_MODEL_ID), None)
