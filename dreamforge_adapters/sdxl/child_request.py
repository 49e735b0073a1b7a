"""One `generate` request inside the child: its checked fields, and the step callback that
reports progress, honours the test hooks and stops the request when the parent asks."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dreamforge_adapters.sdxl.previews import latent_preview_rgb
from dreamforge_adapters.sdxl.protocol import ChildMessage, GenerateMessage

_SLOW = re.compile(r"\[\[slow:(\d+(?:\.\d+)?)\]\]")


class RequestError(Exception):
    """Raised when a `generate` message lacks a field or holds a value the pipeline rejects."""


class Interrupted(Exception):
    """Raised from the step callback when the parent asked the running request to stop."""


@dataclass(frozen=True, slots=True)
class Request:
    prompt: str
    negative_prompt: str
    width: int
    height: int
    steps: int
    guidance: float
    scheduler: str
    seed: int
    hooks: bool
    request_id: str
    preview_every: int | None = None
    # image-to-image and inpainting: PNG bytes of width x height, and how much to repaint
    strength: float | None = None
    init_image: bytes | None = None
    mask_image: bytes | None = None

    @property
    def denoise_steps(self) -> int:
        """The steps that run: image-to-image runs int(steps * strength) of the schedule."""
        if self.init_image is None or self.strength is None:
            return self.steps
        return min(int(self.steps * self.strength), self.steps)

    @classmethod
    def parse(cls, message: GenerateMessage) -> Request:
        """Checks what the pipeline would reject late or obscurely (sizes, step count)."""
        try:
            params: Mapping[str, Any] = message["params"]
            request = cls(
                prompt=str(params["prompt"]),
                negative_prompt=str(params.get("negative_prompt") or ""),
                width=int(params["width"]),
                height=int(params["height"]),
                steps=int(params["steps"]),
                guidance=float(params["guidance"]),
                scheduler=str(params["scheduler"]),
                seed=int(message["seed"]),
                hooks=bool((message.get("hooks") or {}).get("enabled")),
                request_id=str(message["request_id"]),
                preview_every=_preview_every(params.get("preview_every")),
                strength=None if params.get("strength") is None else float(params["strength"]),
                init_image=_optional_bytes(message.get("init_image")),
                mask_image=_optional_bytes(message.get("mask_image")),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RequestError(f"malformed generate message: {e!r}") from e
        if request.width <= 0 or request.height <= 0 or request.width % 8 or request.height % 8:
            raise RequestError("width and height must be positive multiples of 8")
        if request.steps < 1:
            raise RequestError("steps must be at least 1")
        if not 0 <= request.seed < 2**64:
            raise RequestError("seed must be between 0 and 2**64 - 1")
        if request.mask_image is not None and request.init_image is None:
            raise RequestError("a mask_image needs an init_image")
        if request.init_image is not None and request.denoise_steps < 1:
            raise RequestError("strength x steps must give at least one step")
        return request


def _preview_every(value: Any) -> int | None:
    return None if value is None else max(1, int(value))


def _optional_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, bytes | bytearray):
        raise TypeError(f"expected bytes, got {type(value).__name__}")
    return bytes(value)


def step_reporter(
    send: Callable[[ChildMessage], None],
    request: Request,
    torch: Any,
    check_interrupt: Callable[[], None],
) -> tuple[Callable[..., dict[str, Any]], Callable[[], None]]:
    """The pipeline's step callback, and a function that reports any steps it did not.

    Second-order samplers (heun) call the callback about twice per step, so calls are mapped
    onto the requested step count and each step is reported once, in order, when it is done.
    Each call also looks for the parent's interrupt, so a request stops within one step.
    With `preview_every` N, every Nth reported step also sends a `preview` of its latents.
    The two functions share their counters, so they are built together, in one function a
    few lines over the usual length.
    """
    reported = 0
    calls = 0
    next_preview = request.preview_every or 0  # the step whose latents the next preview shows
    total = request.denoise_steps
    slow = _SLOW.search(request.prompt) if request.hooks else None

    def report(done: int) -> None:
        nonlocal reported
        while reported < min(done, total):
            reported += 1
            send(
                {
                    "type": "step",
                    "request_id": request.request_id,
                    "done": reported,
                    "total": total,
                }
            )
            if slow:
                time.sleep(float(slow.group(1)))
            check_interrupt()

    def on_step_end(pipe: Any, index: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1 and request.hooks:
            if "[[crash]]" in request.prompt:
                os._exit(3)
            if "[[oom]]" in request.prompt:
                raise torch.OutOfMemoryError("simulated CUDA out of memory")
        nonlocal next_preview
        total_calls = max(int(getattr(pipe, "num_timesteps", 0) or total), 1)
        report((index + 1) * total // total_calls)
        if next_preview and reported >= next_preview and "latents" in kwargs:
            width, height, rgb = latent_preview_rgb(kwargs["latents"], torch)
            send(
                {
                    "type": "preview",
                    "request_id": request.request_id,
                    "step": reported,
                    "total": total,
                    "width": width,
                    "height": height,
                    "rgb": rgb,
                }
            )
            every = request.preview_every or 1
            next_preview = (reported // every + 1) * every
        check_interrupt()
        return kwargs

    return on_step_end, lambda: report(total)
