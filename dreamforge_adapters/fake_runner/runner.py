"""The deterministic Runner test double: real progress, reproducible pixels, injected failures.

Tests and the `fake` runner setting (no GPU) need what a real runner promises: the same seed and
parameters (LoRAs included) give the same image and anything else a different one, every step is
reported, previews come every `preview_every` steps, and failures arrive as the typed errors
the retry rule classifies. Model loads cost what `warm.py` books, so routing shows in loads.
The picture is a coarse random grid scaled up 8x, so it costs a few ms at 1024x1024 and
compresses like an image, not noise.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import threading
import time
from collections.abc import Mapping
from typing import NamedTuple

from PIL import Image

from dreamforge_adapters.fake_runner.warm import WarmPipelines
from dreamforge_core.domain.params import denoising_steps
from dreamforge_core.errors import (
    DreamForgeError,
    OutOfMemory,
    ProviderError,
    StepTimeout,
    StorageError,
)
from dreamforge_core.ports.runner import (
    NOTE_MODEL_CACHED,
    NOTE_MODEL_LOADED,
    GeneratedImage,
    GenerationRequest,
    Runner,
    RunnerListener,
)

_FAIL_MARKER = re.compile(r"\[\[fail:(\w+)\]\]")
_FAILURES: dict[str, type[DreamForgeError]] = {
    "provider_error": ProviderError,
    "timeout": StepTimeout,
    "oom": OutOfMemory,
    "storage_error": StorageError,
}

CELL = 8
"""Pixels per side of one random colour cell."""


class FakeCall(NamedTuple):
    """One `generate` call, recorded as it starts, failed calls included."""

    job_id: str
    item_index: int
    seed: int
    at: float  # time.monotonic()


class FakeRunner(Runner):
    """Failure injection, fixed at construction so a test reads as its own setup:

    - `fail_calls` maps a 0-based call number to the error class that call raises;
    - `always_fail` makes every call raise that class (after `fail_calls` is consulted);
    - `fail_after_steps` is how many steps a failing call reports before raising, to mimic an
      out-of-memory error in the middle of denoising (0: it fails before the first step).

    Model loads: `load_s` is the simulated load time, `warm_models` and `memory_budget_mb`
    bound the pipelines kept warm (see `warm.py`); `pipelines.loads` counts the loads.
    """

    def __init__(
        self,
        step_delay_s: float = 0.0,
        *,
        fail_calls: Mapping[int, type[DreamForgeError]] | None = None,
        always_fail: type[DreamForgeError] | None = None,
        fail_after_steps: int = 0,
        test_hooks: bool = False,
        load_s: float = 0.0,
        warm_models: int = 1,
        memory_budget_mb: int | None = None,
    ) -> None:
        self._delay = step_delay_s
        self._fail_calls = dict(fail_calls or {})
        self._always_fail = always_fail
        self._fail_after = fail_after_steps
        self._hooks = test_hooks
        self._lock = threading.Lock()
        self.pipelines = WarmPipelines(load_s, warm_models, memory_budget_mb)
        self.calls: list[FakeCall] = []

    def generate(self, request: GenerationRequest, listener: RunnerListener) -> GeneratedImage:
        with self._lock:
            call = len(self.calls)
            self.calls.append(
                FakeCall(request.job_id, request.item_index, request.seed, time.monotonic())
            )
        model_id = request.model.id
        ready = self.pipelines.ready(model_id)
        facts = {"model_id": model_id, "seconds": ready.seconds, "warm": ready.warm}
        if ready.how == "loaded":  # as a real runner: a load, then cache hits while warm
            listener.note(
                NOTE_MODEL_LOADED, f"fake runner: model {model_id} ready, no weights", facts
            )
        else:
            text = "moved back from CPU memory" if ready.how == "restored" else "already loaded"
            listener.note(NOTE_MODEL_CACHED, f"model {model_id} {text}", facts)
        failure = self._fail_calls.get(call, self._always_fail) or self._hooked_failure(request)
        total = denoising_steps(request.params)
        deadline = None if request.timeout_s is None else time.monotonic() + request.timeout_s
        for step in range(1, total + 1):
            if failure is not None and step > self._fail_after:
                break
            if self._delay > 0:
                time.sleep(self._delay)
            if deadline is not None and time.monotonic() > deadline:
                raise StepTimeout(
                    f"fake runner: step timed out at step {step}/{total}", job_id=request.job_id
                )
            listener.step(step, total)
            every = request.params.preview_every
            if every and step % every == 0:
                listener.preview(step, total, fake_preview(request, step))
        if failure is not None:
            raise failure(f"fake runner: injected failure on call {call}", job_id=request.job_id)
        width, height = request.params.width, request.params.height
        return GeneratedImage(width, height, fake_pixels(request))

    def _hooked_failure(self, request: GenerationRequest) -> type[DreamForgeError] | None:
        """With test hooks on, a prompt marker `[[fail:CODE]]` makes every call fail with that
        class, so black-box tests of a deployment can drive the retry rule."""
        if not self._hooks:
            return None
        match = _FAIL_MARKER.search(request.params.prompt)
        return _FAILURES.get(match.group(1)) if match else None

    def close(self) -> None:
        """Nothing to release: no process, no device memory."""


def fake_pixels(request: GenerationRequest) -> bytes:
    """Raw RGB for the request, a pure function of the seed and every parameter that would
    change a real image. With an init image the grid is blended over it by `strength`, and
    with a mask only where the mask is white, so a test sees what the inputs decide."""
    picture = _grid(request)
    if request.init_image is None:
        return picture.tobytes()
    size = (request.params.width, request.params.height)
    with Image.open(io.BytesIO(request.init_image)) as init:
        base = init.convert("RGB").resize(size)
    picture = Image.blend(base, picture, request.params.strength or 1.0)
    if request.mask_image is not None:
        with Image.open(io.BytesIO(request.mask_image)) as mask:
            picture = Image.composite(picture, base, mask.convert("L").resize(size))
    return picture.tobytes()


def _grid(request: GenerationRequest) -> Image.Image:
    p = request.params
    recipe = [
        request.model.id,
        p.prompt,
        p.negative_prompt,
        p.scheduler,
        p.steps,
        float(p.guidance),
        p.width,
        p.height,
        request.seed,
        *[hashlib.sha256(i).hexdigest() for i in (request.init_image, request.mask_image) if i],
    ]
    # A LoRA at scale 0 changes nothing, as on the real runner.
    recipe += [[lora.model.id, lora.scale] for lora in request.loras if lora.scale]
    digest = hashlib.sha256(json.dumps(recipe).encode()).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    cols, rows = -(-p.width // CELL), -(-p.height // CELL)
    grid = Image.frombytes("RGB", (cols, rows), rng.randbytes(cols * rows * 3))
    return grid.resize((p.width, p.height), Image.Resampling.NEAREST)


def fake_preview(request: GenerationRequest, step: int) -> bytes:
    """A small JPEG, a function of the request and the step, as a preview stands in for."""
    grey = (step * 255 // max(request.params.steps, 1)) % 256
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (grey, grey, grey)).save(out, "JPEG", quality=70)
    return out.getvalue()
