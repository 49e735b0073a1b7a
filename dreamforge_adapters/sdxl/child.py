"""The child side of the runner protocol (`protocol.py`): one long-lived process per GPU.

The parent starts `child_main` with the "spawn" context and owns its life: it kills the child
on timeout or crash, because only process exit reliably frees GPU memory. So the child keeps
serving after an error and leaves that decision to the parent; it reports what failed and how
(`oom`, `invalid_input`, `provider_error`), with the memory figures of the item.

The parent imports this module to name the target, so torch and diffusers are imported inside
`child_main` only, after the environment has been made offline.
"""

from __future__ import annotations

import gc
import os
import re
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dreamforge_adapters.sdxl.cpu import default_cpu_threads
from dreamforge_adapters.sdxl.memory import process_memory
from dreamforge_adapters.sdxl.protocol import ChildMessage, GenerateMessage, Memory

# Set before diffusers or huggingface_hub is imported: they read these once, at import, and
# diffusers' single-file loader otherwise quietly asks the hub for configs.
_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DISABLE_TELEMETRY": "1",
}
_SLOW = re.compile(r"\[\[slow:(\d+(?:\.\d+)?)\]\]")


class RequestError(Exception):
    """Raised when a `generate` message lacks a field or holds a value the pipeline rejects."""


class ParentGone(Exception):
    """Raised when the pipe to the parent is closed: nobody is left to serve."""


class Interrupted(Exception):
    """Raised from the step callback when the parent asked the running request to stop."""


def _prepare_environment(options: Mapping[str, Any]) -> None:
    """The parent's extra variables first, then the offline switches, which always win."""
    os.environ.update({str(k): str(v) for k, v in (options.get("env") or {}).items()})
    os.environ.update(_OFFLINE_ENV)
    cache_dir = options.get("compile_cache_dir") or os.environ.get("DREAMFORGE_COMPILE_CACHE_DIR")
    if cache_dir:  # compiled kernels outlive the child, so a restarted child skips compiling
        os.makedirs(cache_dir, exist_ok=True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir)
        os.environ["TORCHINDUCTOR_FX_GRAPH_CACHE"] = "1"
        os.environ["TORCHINDUCTOR_AUTOGRAD_CACHE"] = "1"


@dataclass(frozen=True, slots=True)
class _Request:
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

    @classmethod
    def parse(cls, message: GenerateMessage) -> _Request:
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
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RequestError(f"malformed generate message: {e!r}") from e
        if request.width <= 0 or request.height <= 0 or request.width % 8 or request.height % 8:
            raise RequestError("width and height must be positive multiples of 8")
        if request.steps < 1:
            raise RequestError("steps must be at least 1")
        if not 0 <= request.seed < 2**64:
            raise RequestError("seed must be between 0 and 2**64 - 1")
        return request


class _MemoryProbe:
    """Start, peak and end memory of one item: torch's allocator on CUDA, RSS otherwise."""

    def __init__(self, torch: Any, device: str) -> None:
        self.torch = torch
        self.cuda = device == "cuda"
        self.start_bytes = 0

    def start(self) -> None:
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()
            self.start_bytes = int(self.torch.cuda.memory_allocated())
            return
        try:  # "5" resets VmHWM to the current RSS, so the peak is this item's (Linux >= 4.0)
            with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
                refs.write("5")
        except OSError:
            pass
        self.start_bytes = (process_memory() or (0, 0))[0]

    def finish(self) -> Memory:
        """Frees what can be freed, then measures; call it on failure too."""
        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()
            peak = int(self.torch.cuda.max_memory_allocated())
            end = int(self.torch.cuda.memory_allocated())
            return Memory(kind="cuda", start_bytes=self.start_bytes, peak_bytes=peak, end_bytes=end)
        end, peak = process_memory() or (0, 0)
        return Memory(
            kind="process",
            start_bytes=self.start_bytes,
            peak_bytes=max(peak, end, self.start_bytes),
            end_bytes=end,
        )


def _step_reporter(
    send: Callable[[ChildMessage], None],
    request: _Request,
    torch: Any,
    check_interrupt: Callable[[], None],
) -> tuple[Callable[..., dict[str, Any]], Callable[[], None]]:
    """The pipeline's step callback, and a function that reports any steps it did not.

    Second-order samplers (heun) call the callback about twice per step, so calls are mapped
    onto the requested step count and each step is reported once, in order, when it is done.
    Each call also looks for the parent's interrupt, so a request stops within one step.
    """
    reported = 0
    calls = 0
    slow = _SLOW.search(request.prompt) if request.hooks else None

    def report(done: int) -> None:
        nonlocal reported
        while reported < min(done, request.steps):
            reported += 1
            send(
                {
                    "type": "step",
                    "request_id": request.request_id,
                    "done": reported,
                    "total": request.steps,
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
        total_calls = max(int(getattr(pipe, "num_timesteps", 0) or request.steps), 1)
        report((index + 1) * request.steps // total_calls)
        check_interrupt()
        return kwargs

    return on_step_end, lambda: report(request.steps)


class _Server:
    """Holds the pipeline cache and turns one `generate` message into replies.

    Every reply names the request it answers, so the parent can never take a late message of
    an abandoned request for the answer to the next one.
    """

    def __init__(self, conn: Any, options: Mapping[str, Any]) -> None:
        import numpy as np
        import torch

        from dreamforge_adapters.sdxl import pipelines, schedulers

        self.conn = conn
        self.np = np
        self.torch = torch
        self.pipelines = pipelines
        self.schedulers = schedulers
        self.cache = pipelines.PipelineCache(int(options.get("pipeline_cache_size") or 1))
        self.device = self.cache.device
        self.memory = _MemoryProbe(torch, self.device)
        self.pending: deque[Any] = deque()  # read while a request ran, served after it
        self.shutdown_requested = False
        self._current: str | None = None

    def send(self, message: ChildMessage) -> None:
        try:
            self.conn.send(message)
        except (OSError, EOFError) as e:
            raise ParentGone from e

    def next_message(self) -> Any:
        return self.pending.popleft() if self.pending else self.conn.recv()

    def check_interrupt(self) -> None:
        """Reads what the parent sent during the request; stops it when asked to."""
        try:
            while self.conn.poll():
                message = self.conn.recv()
                op = message.get("op") if isinstance(message, dict) else None
                if op == "shutdown":
                    self.shutdown_requested = True
                    raise Interrupted("the runner is shutting down")
                if op == "interrupt":
                    if message.get("request_id") == self._current:
                        raise Interrupted("the parent abandoned the request")
                    continue  # a late interrupt of a request that already ended
                self.pending.append(message)
        except (EOFError, OSError) as e:
            raise ParentGone from e

    def generate(self, message: GenerateMessage) -> None:
        request_id = message.get("request_id")
        self._current = request_id
        self.memory.start()
        failure: tuple[str, str] | None = None
        try:
            reply = self._generate(message)
        except ParentGone:
            raise
        except Interrupted as e:
            failure = ("interrupted", str(e))
        except (RequestError, self.pipelines.ModelLoadError) as e:
            failure = ("invalid_input", str(e))
        except self.torch.OutOfMemoryError as e:
            failure = ("oom", str(e) or "CUDA out of memory")
        except Exception as e:
            failure = ("provider_error", repr(e))
        finally:
            self._current = None
        # Outside the except blocks: the traceback, and the tensors its frames hold, are gone,
        # so measuring the end frees what the failed item held.
        memory = self.memory.finish()
        if failure is None:
            self.send({**reply, "memory": memory})
        else:
            code, text = failure
            self.send(
                {
                    "type": "error",
                    "request_id": request_id,
                    "code": code,
                    "message": text,
                    "memory": memory,
                }
            )

    def _generate(self, message: GenerateMessage) -> ChildMessage:
        request = _Request.parse(message)
        if request.scheduler not in self.schedulers.SCHEDULERS:
            raise RequestError(f"unknown scheduler {request.scheduler!r}")
        spec = message["model"]
        pipe, seconds, cached = self.cache.load(spec, message.get("runtime") or {})
        self.send(
            {
                "type": "loaded",
                "request_id": request.request_id,
                "model_id": spec["id"],
                "seconds": seconds,
                "cached": cached,
            }
        )
        self.check_interrupt()  # a load can take long; the parent may have given up meanwhile
        started = time.perf_counter()
        pixels = self._run(pipe, request)
        return {
            "type": "done",
            "request_id": request.request_id,
            "width": request.width,
            "height": request.height,
            "pixels": pixels,
            "seconds": time.perf_counter() - started,
        }

    def _run(self, pipe: Any, request: _Request) -> bytes:
        """Runs the pipeline with this request's own scheduler, restoring the model's after."""
        base = pipe.scheduler
        try:
            scheduler = self.schedulers.make_scheduler(request.scheduler, base.config)
        except ValueError as e:
            raise RequestError(str(e)) from e
        on_step_end, finish_steps = _step_reporter(
            self.send, request, self.torch, self.check_interrupt
        )
        generator = self.torch.Generator(self.device).manual_seed(request.seed)
        pipe.scheduler = scheduler
        try:
            result = pipe(
                prompt=request.prompt,
                # None, not "": SDXL then uses zero embeddings for "no negative prompt"
                negative_prompt=request.negative_prompt or None,
                width=request.width,
                height=request.height,
                num_inference_steps=request.steps,
                guidance_scale=request.guidance,
                generator=generator,
                output_type="np",
                callback_on_step_end=on_step_end,
            )
        finally:
            pipe.scheduler = base
        finish_steps()
        image = self.np.asarray(result.images[0], dtype=self.np.float32)
        if not self.np.isfinite(image).all():  # half precision overflow, typically in the VAE
            raise RuntimeError("the pipeline produced NaN or infinite pixels")
        rgb = (image * 255).round().clip(0, 255).astype(self.np.uint8)
        return bytes(self.np.ascontiguousarray(rgb).tobytes())


def child_main(conn: Any, options: dict[str, Any]) -> None:
    """Serves `generate` requests from `conn` until `shutdown` or the pipe closes.

    options (all optional): "threads" (torch intra-op threads), "pipeline_cache_size" (models
    kept loaded, 1), "compile_cache_dir" (inductor's persistent cache; else the environment's
    DREAMFORGE_COMPILE_CACHE_DIR), "env" (variables to set before torch is imported).
    """
    # The parent decides when the child ends; a Ctrl-C in a terminal reaches the whole process
    # group and must not kill the child in the middle of an item.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prepare_environment(options)
    import diffusers
    import torch
    import transformers

    # Loading bars would go to the worker's stderr for every model load.
    library: Any
    for library in (diffusers, transformers):
        library.utils.logging.disable_progress_bar()
    if options.get("threads"):
        torch.set_num_threads(int(options["threads"]))
    elif not torch.cuda.is_available():
        torch.set_num_threads(default_cpu_threads())
    server = _Server(conn, options)
    # The imported libraries are ~400k objects that live as long as the process; frozen, they
    # are skipped by the full collection that ends every item (0.17 s -> ~0 on this machine).
    gc.freeze()
    server.send(
        {
            "type": "ready",
            "device": server.device,
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
        }
    )
    while not server.shutdown_requested:
        try:
            message = server.next_message()
            op = message.get("op") if isinstance(message, dict) else None
            if op == "shutdown":
                break
            if op == "generate":
                server.generate(message)
            elif op == "interrupt":
                continue  # its request had already ended
            else:
                error = {"type": "error", "code": "invalid_input", "message": f"unknown op {op!r}"}
                request_id = message.get("request_id") if isinstance(message, dict) else None
                server.send({**error, "request_id": request_id, "memory": server.memory.finish()})
        except (EOFError, OSError, ParentGone):
            break
    server.cache.clear()
    conn.close()
