"""Timing SDXL in this process: raw diffusers with its defaults, and the pipelines our runner
builds for each runtime preset (`PipelineCache`, the child process's own loader).

Each mode loads the model, makes one image (the warm-up: with torch.compile, the compile), then
times `images` more; seconds per image is their median. Memory is the runner's own probe
(`MemoryProbe`): torch's allocator on CUDA, the process's resident set elsewhere, at start,
after the load, at the peak, after the images and after the release.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dreamforge_adapters.sdxl.memory import MemoryProbe

PROMPT = "a lighthouse on a cliff at dawn, 35mm photo"


@dataclass(frozen=True, slots=True)
class Shape:
    """What every mode makes: the same size, steps and number of timed images."""

    width: int
    height: int
    steps: int
    images: int


def _mib(n: int) -> float:
    return round(n / 2**20, 1)


def time_pipeline(load: Callable[[], Any], shape: Shape, torch: Any, device: str) -> dict[str, Any]:
    """Loads with `load`, warms up, times `shape.images` images, releases; the figures."""
    memory = MemoryProbe(torch, device)
    memory.start()
    began = time.perf_counter()
    pipe = load()
    load_s = time.perf_counter() - began
    loaded = memory.now()

    def one(seed: int) -> float:
        generator = torch.Generator(device="cpu").manual_seed(seed)
        if memory.cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        pipe(
            PROMPT,
            width=shape.width,
            height=shape.height,
            num_inference_steps=shape.steps,
            generator=generator,
        )
        if memory.cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    first_s = one(0)
    times = [one(seed) for seed in range(1, shape.images + 1)]
    after_images = memory.now()
    pipe = None  # the last reference: `finish` releases it, then measures
    released = memory.finish()
    per_image = statistics.median(times)
    return {
        "load_s": round(load_s, 2),
        "first_image_s": round(first_s, 3),
        "s_per_image": round(per_image, 3),
        "it_per_s": round(shape.steps / per_image, 2),
        "images": len(times),
        "memory_mib": {
            "start": _mib(released["start_bytes"]),
            "after_load": _mib(loaded),
            "peak": _mib(released["peak_bytes"]),
            "after_images": _mib(after_images),
            "after_release": _mib(released["end_bytes"]),
        },
    }


def raw_diffusers(folder: Path, device: str, torch: Any) -> Callable[[], Any]:
    """diffusers as a user would call it: from_pretrained, half precision on CUDA, `.to`."""

    def load() -> Any:
        from diffusers import StableDiffusionXLPipeline as Typed

        pipeline: Any = Typed  # partly untyped
        dtype = torch.float16 if device == "cuda" else torch.float32
        pipe = pipeline.from_pretrained(folder, torch_dtype=dtype, local_files_only=True)
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(device)

    return load


def our_preset(spec: dict[str, Any], runtime: dict[str, Any], device: str) -> Callable[[], Any]:
    """The pipeline the runner builds for a preset's runtime options."""

    def load() -> Any:
        from dreamforge_adapters.sdxl.pipelines import PipelineCache
        from dreamforge_apps.settings import Settings

        cache = PipelineCache(device=device, compile_mode=Settings().compile_mode)
        pipe, _, _ = cache.load(spec, runtime)  # type: ignore[arg-type]
        return pipe

    return load
