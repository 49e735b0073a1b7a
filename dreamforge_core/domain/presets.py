"""Named presets (FR-043): parameter bundles a request can reference by name.

Explicit request values override a preset; a preset's values are clamped to the model's
limits so a preset never produces a request the model would reject.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dreamforge_core.domain.params import GenerateParams, ModelLimits


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    description: str
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    gpu_class: str = "any"
    runtime: dict[str, Any] = field(default_factory=dict)  # how the runner loads and runs

    def apply(self, params: GenerateParams, limits: ModelLimits) -> GenerateParams:
        def clamp(value: int | None, lo: int, hi: int, current: int) -> int:
            return current if value is None else max(lo, min(hi, value))

        scheduler = self.scheduler if self.scheduler in limits.schedulers else params.scheduler
        return replace(
            params,
            width=clamp(self.width, limits.min_size, limits.max_size, params.width),
            height=clamp(self.height, limits.min_size, limits.max_size, params.height),
            steps=clamp(self.steps, limits.min_steps, limits.max_steps, params.steps),
            guidance=params.guidance
            if self.guidance is None
            else max(limits.min_guidance, min(limits.max_guidance, self.guidance)),
            scheduler=scheduler,
        )


def load_presets(text: str) -> tuple[int, dict[str, Preset]]:
    """Parses a presets file: `{"version": N, "presets": [{name, gpu_class, description,
    params: {width, height, steps, guidance, scheduler}, runtime: {...}}]}`."""
    data = json.loads(text)
    presets = {}
    for entry in data["presets"]:
        params = entry.get("params", {})
        presets[entry["name"]] = Preset(
            name=entry["name"],
            description=entry.get("description", ""),
            width=params.get("width"),
            height=params.get("height"),
            steps=params.get("steps"),
            guidance=params.get("guidance"),
            scheduler=params.get("scheduler"),
            gpu_class=entry.get("gpu_class", "any"),
            runtime=dict(entry.get("runtime", {})),
        )
    return int(data["version"]), presets


PRESETS_VERSION, DEFAULT_PRESETS = load_presets(
    resources.files("dreamforge_core.domain").joinpath("presets.json").read_text("utf-8")
)
