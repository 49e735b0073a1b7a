from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.params import GenerateParams

StepCallback = Callable[[int, int], None]
"""Called with (steps done, total steps) after each denoising step."""


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    job_id: str
    item_index: int
    model: ModelDescriptor
    params: GenerateParams
    seed: int


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """Raw 8-bit RGB pixels, row-major."""

    width: int
    height: int
    pixels: bytes
    info: tuple[tuple[str, str], ...] = ()  # runner notes for the job log (load time, memory…)


class Runner(Protocol):
    """Turns one batch item into pixels. Raises OutOfMemory, StepTimeout or ProviderError."""

    def generate(self, request: GenerationRequest, on_step: StepCallback) -> GeneratedImage: ...

    def close(self) -> None: ...
