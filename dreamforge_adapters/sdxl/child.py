"""The child side of the runner protocol (`protocol.py`): one long-lived process per GPU.

The parent starts `child_main` from its fork server (`runner_context`) and owns its life: it
kills the child on timeout or crash, because only process exit reliably frees GPU memory. So
the child keeps serving after an error and leaves that decision to the parent; it reports what
failed and how (`oom`, `invalid_input`, `provider_error`), with the memory figures of the item.

The parent imports this module to name the target, so torch and diffusers are imported inside
`child_main` only, after the environment has been made offline; a child forked from the fork
server finds them imported already (`child_preload.py`).
"""

from __future__ import annotations

import gc
import signal
import sys
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from dreamforge_adapters.sdxl.child_environment import prepare_environment
from dreamforge_adapters.sdxl.child_request import (
    Interrupted,
    Request,
    RequestError,
    step_reporter,
)
from dreamforge_adapters.sdxl.cpu import default_cpu_threads
from dreamforge_adapters.sdxl.loras import LoraLoadError, apply_loras
from dreamforge_adapters.sdxl.memory import MemoryProbe
from dreamforge_adapters.sdxl.protocol import ChildMessage, GenerateMessage


class ParentGone(Exception):
    """Raised when the pipe to the parent is closed: nobody is left to serve."""


class _Server:
    """Holds the pipeline cache and turns one `generate` message into replies.

    Every reply names the request it answers, so the parent can never take a late message of
    an abandoned request for the answer to the next one.
    """

    def __init__(self, conn: Any, options: Mapping[str, Any]) -> None:
        import numpy as np
        import torch

        from dreamforge_adapters.sdxl import modes, pipelines, schedulers

        self.conn = conn
        self.np = np
        self.torch = torch
        self.pipelines = pipelines
        self.schedulers = schedulers
        budget_mb = options.get("memory_budget_mb")
        self.cache = pipelines.PipelineCache(
            int(options.get("pipeline_cache_size") or 1),
            budget_bytes=int(budget_mb) * 2**20 if budget_mb else None,
            compile_mode=options.get("compile_mode"),
        )
        self.modes = modes.PipelineModes()  # image-to-image, inpainting: the same weights
        self.device = self.cache.device
        self.memory = MemoryProbe(torch, self.device)
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
        except (RequestError, self.pipelines.ModelLoadError, LoraLoadError) as e:
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
        request = Request.parse(message)
        if request.scheduler not in self.schedulers.SCHEDULERS:
            raise RequestError(f"unknown scheduler {request.scheduler!r}")
        spec = message["model"]
        pipe, seconds, cached = self.cache.load(spec, message.get("runtime") or {})
        loras_loaded = apply_loras(pipe, message.get("loras") or [])
        self.send(
            {
                "type": "loaded",
                "request_id": request.request_id,
                "model_id": spec["id"],
                "seconds": seconds,
                "cached": cached,
                "warm": self.cache.warm_ids(),
                "loras_loaded": loras_loaded,
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

    def _run(self, loaded: Any, request: Request) -> bytes:
        """Runs the request's mode of the pipeline with this request's own scheduler,
        restoring the model's after."""
        pipe, mode_args = self.modes.select(loaded, request)
        base = pipe.scheduler
        try:
            scheduler = self.schedulers.make_scheduler(request.scheduler, base.config)
        except ValueError as e:
            raise RequestError(str(e)) from e
        on_step_end, finish_steps = step_reporter(
            self.send, request, self.torch, self.check_interrupt
        )
        generator = self.torch.Generator(self.device).manual_seed(request.seed)
        pipe.scheduler = scheduler
        try:
            result = pipe(
                prompt=request.prompt,
                # None, not "": SDXL then uses zero embeddings for "no negative prompt"
                negative_prompt=request.negative_prompt or None,
                num_inference_steps=request.steps,
                guidance_scale=request.guidance,
                generator=generator,
                output_type="np",
                callback_on_step_end=on_step_end,
                **mode_args,
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
    DREAMFORGE_COMPILE_CACHE_DIR), "env" (variables set before it serves; a forked child has
    its libraries imported by then, see child_environment.py).
    """
    # The parent decides when the child ends; a Ctrl-C in a terminal reaches the whole process
    # group and must not kill the child in the middle of an item.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    preloaded = "torch" in sys.modules  # forked from the fork server (child_preload.py)
    prepare_environment(options)
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
            "preloaded": preloaded,
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
