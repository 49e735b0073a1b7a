from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.params import GenerateParams


class RunnerListener(Protocol):
    """What a runner reports while it works; the job records it as events."""

    def step(self, done: int, total: int) -> None:
        """Called after each denoising step."""
        ...

    def note(self, code: str, message: str, data: Mapping[str, Any]) -> None:
        """A fact worth a job log event: model loaded or cached, memory figures, cleanup."""
        ...

    def preview(self, step: int, total: int, jpeg: bytes) -> None:
        """A live preview of the latents after `step` (requests with `preview_every`): shown
        to whoever follows the job, never stored."""
        ...


@dataclass(frozen=True, slots=True)
class AppliedLora:
    """A LoRA a request applies: the installed `sdxl-lora` model and its scale."""

    model: ModelDescriptor
    scale: float


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    job_id: str
    item_index: int
    model: ModelDescriptor
    params: GenerateParams
    seed: int
    timeout_s: float | None = None  # time left in the step; past it the runner raises StepTimeout
    runtime: Mapping[str, Any] = field(default_factory=dict)  # preset runtime options
    # The job's stored inputs (PNG of width x height): image-to-image, and with a mask
    # (one grey channel, white = repaint) inpainting; `params.strength` says how much.
    init_image: bytes | None = None
    mask_image: bytes | None = None
    loras: tuple[AppliedLora, ...] = ()  # params.loras, resolved


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """Raw 8-bit RGB pixels, row-major."""

    width: int
    height: int
    pixels: bytes


class Runner(Protocol):
    """Turns one batch item into pixels. Raises OutOfMemory, StepTimeout, ProviderError or
    InvalidInput (a model it cannot load)."""

    def generate(self, request: GenerationRequest, listener: RunnerListener) -> GeneratedImage: ...

    def close(self) -> None: ...


# Note codes a runner may report, which the service also turns into metrics.
NOTE_MODEL_LOADED = "model_loaded"  # data: model_id, seconds
NOTE_MODEL_CACHED = "model_cache_hit"  # data: model_id
NOTE_LORA_LOADED = "lora_loaded"  # data: model_id (of the LoRA); once per LoRA and loaded model
NOTE_MEMORY = "memory"  # data: kind ("cuda" | "process"), start_bytes, peak_bytes, end_bytes
# data: reason, action, and the memory figures (kind, start_bytes, peak_bytes, end_bytes) of a
# killed process when known; they become memory metrics when the item reported none of that kind
NOTE_CLEANUP = "runner_cleanup"
