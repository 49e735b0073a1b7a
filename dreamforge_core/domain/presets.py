"""Named presets (FR-043): parameter bundles a request can reference by name.

Explicit request values override a preset; a preset's values are clamped to the model's
limits so a preset never produces a request the model would reject.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dreamforge_core.domain.params import GenerateParams, ModelLimits

PRESETS_VERSION = 1


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    description: str
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None

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


DEFAULT_PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("quality", "Full SDXL resolution, 30 steps", 1024, 1024, 30, 6.0, "dpmpp_2m_karras"),
        Preset("balanced", "Full resolution, 20 steps", 1024, 1024, 20, 5.5, "dpmpp_2m_karras"),
        Preset("draft", "Quick look at 768 px, 12 steps", 768, 768, 12, 5.0, "euler_a"),
    )
}
