"""The parent side of the SDXL runner: owns the child process and enforces its limits.

The child keeps pipelines warm between jobs. The parent sends one item at a time, relays step
progress, and is the only one that decides the child's fate: on timeout, crash, out of memory
or an unexplained error it kills the child (the one sure way to return all GPU memory),
records what it cleaned up, and the next item gets a fresh child.

It is one module because each limit (timeout, crash, memory, clean-up) is a decision about the
one child process; keeping them beside it keeps the child's lifecycle in one place.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from dreamforge_adapters.sdxl.child_process import ChildOptions, ChildProcess
from dreamforge_adapters.sdxl.following import INTERRUPT_GRACE_S, Following, QuietListener
from dreamforge_adapters.sdxl.loras import lora_spec
from dreamforge_adapters.sdxl.memory import process_memory
from dreamforge_adapters.sdxl.previews import preview_jpeg
from dreamforge_adapters.sdxl.protocol import SHUTDOWN, ChildMessage, ModelSpec
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.errors import InvalidInput, OutOfMemory, ProviderError, StepTimeout
from dreamforge_core.ports.runner import (
    NOTE_CLEANUP,
    NOTE_LORA_LOADED,
    NOTE_MEMORY,
    NOTE_MODEL_CACHED,
    NOTE_MODEL_LOADED,
    GeneratedImage,
    GenerationRequest,
    Runner,
    RunnerListener,
)

log = logging.getLogger(__name__)

ConfigResolver = Callable[[ModelDescriptor], str | None]
"""Where the diffusers config folder of a single-file checkpoint lies on disk."""


class SubprocessRunner(Runner):
    """The `Runner` port over a long-lived child process (forked from the fork server of
    `runner_context`, never from this process)."""

    def __init__(self, options: ChildOptions, config_resolver: ConfigResolver) -> None:
        self._options = options
        self._resolve_config = config_resolver
        self._child: ChildProcess | None = None
        self._lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Starts the child now, so the first job does not pay the interpreter start-up."""
        with self._lock:
            if self._child is None:
                self._child = ChildProcess(self._options)

    @property
    def child_pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None and child.process.is_alive() else None

    def close(self) -> None:
        with self._lock:
            child, self._child = self._child, None
        if child is None:
            return
        with contextlib.suppress(OSError, ValueError):
            child.conn.send(SHUTDOWN)
        child.process.join(10)
        if child.process.is_alive():
            child.process.kill()
            child.process.join(5)
        child.conn.close()

    # --- generation -----------------------------------------------------------------------

    def generate(self, request: GenerationRequest, listener: RunnerListener) -> GeneratedImage:
        spec = self._spec(request.model)
        with self._lock:
            deadline = time.monotonic() + (request.timeout_s if request.timeout_s else math.inf)
            child = self._ready_child(deadline, listener)
            request_id = uuid.uuid4().hex
            child.conn.send(
                {
                    "op": "generate",
                    "request_id": request_id,
                    "model": spec,
                    "params": request.params.to_dict(),
                    "seed": request.seed,
                    "runtime": dict(request.runtime),
                    "hooks": {"enabled": self._options.test_hooks},
                    "loras": [lora_spec(lora) for lora in request.loras],
                    "init_image": request.init_image,
                    "mask_image": request.mask_image,
                }
            )
            follow = Following(child, request_id)
            try:
                return self._follow(follow, deadline, request, listener)
            except BaseException as e:
                if not follow.settled and self._child is child:
                    # The child is still working on this request: stop it before anything
                    # else is asked of it, so its late messages answer nobody.
                    self._stop_request(follow, deadline, QuietListener(listener), e)
                raise

    def _spec(self, model: ModelDescriptor) -> ModelSpec:
        if not model.local_path:
            raise InvalidInput(f"model {model.id!r} has no local files")
        config_path = None
        if model.kind == "sdxl-checkpoint":
            config_path = self._resolve_config(model)
            if config_path is None:
                raise InvalidInput(
                    f"model {model.id!r} is a single-file checkpoint and the SDXL base config "
                    "is not on disk (see DREAMFORGE_SDXL_BASE_CONFIG)"
                )
        return ModelSpec(
            id=model.id,
            kind=model.kind,
            local_path=model.local_path,
            config_path=config_path,
            checkpoint_hash=model.checkpoint_hash,
        )

    def _ready_child(self, deadline: float, listener: RunnerListener) -> ChildProcess:
        if self._child is not None and not self._child.process.is_alive():
            self._discard(listener, "the runner process had exited")
        if self._child is None:
            self._child = ChildProcess(self._options)
        child = self._child
        if child.ready is None:
            limit = min(deadline, time.monotonic() + self._options.start_timeout_s)
            message = self._receive(child, limit, listener, starting=True)
            if message.get("type") != "ready":
                self._kill(listener, "the runner process did not start properly")
                raise ProviderError(f"unexpected first message from the runner: {message}")
            child.ready = message
            listener.note(
                "runner_started",
                f"runner process {child.pid} ready on {message.get('device')}",
                {k: str(v) for k, v in message.items() if k != "type"},
            )
        return child

    def _follow(
        self,
        follow: Following,
        deadline: float,
        request: GenerationRequest,
        listener: RunnerListener,
    ) -> GeneratedImage:
        while True:
            message = self._receive(follow.child, deadline, listener)
            if not follow.owns(message):
                log.warning("ignored a runner message of another request: %s", message.get("type"))
                continue
            kind = message.get("type")
            if kind == "step":
                follow.stepped()
                listener.step(int(message["done"]), int(message["total"]))
            elif kind == "preview":
                jpeg = preview_jpeg(int(message["width"]), int(message["height"]), message["rgb"])
                listener.preview(int(message["step"]), int(message["total"]), jpeg)
            elif kind == "loaded":
                follow.loaded()
                self._note_load(message, listener)
            elif kind == "done":
                follow.settled = True
                self._note_memory(message.get("memory"), listener)
                return GeneratedImage(
                    int(message["width"]), int(message["height"]), bytes(message["pixels"])
                )
            elif kind == "error":
                follow.settled = True
                raise self._failure(message, request, listener)

    def _stop_request(
        self, follow: Following, deadline: float, listener: RunnerListener, cause: BaseException
    ) -> None:
        """Interrupts the child's request and waits for its last word; kills it otherwise.

        A child that stops at its next step stays warm (the model stays loaded); one that does
        not answer within a step's time plus INTERRUPT_GRACE_S is killed.
        """
        child = follow.child
        with contextlib.suppress(OSError, ValueError):
            child.conn.send({"op": "interrupt", "request_id": follow.request_id})
        limit = min(deadline, time.monotonic() + INTERRUPT_GRACE_S + follow.longest_step_s)
        while (remaining := limit - time.monotonic()) > 0:
            try:
                if not child.conn.poll(min(remaining, 0.1)):
                    continue
                message = child.conn.recv()
            except (EOFError, OSError):
                break
            if follow.owns(message) and message.get("type") in ("done", "error"):
                follow.settled = True
                log.info("runner request stopped after %r; the runner stays warm", cause)
                return
        self._kill(listener, f"the request was abandoned ({type(cause).__name__})")

    def _receive(
        self, child: ChildProcess, deadline: float, listener: RunnerListener, starting: bool = False
    ) -> ChildMessage:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                what = "start" if starting else "finish the step"
                self._kill(listener, f"timeout: the runner did not {what} in time")
                raise StepTimeout(f"the runner did not {what} within the step timeout")
            try:
                if child.conn.poll(min(remaining, 0.5)):
                    message: ChildMessage = child.conn.recv()
                    return message
            except (EOFError, OSError):
                pass
            else:
                if child.process.is_alive():
                    continue
            child.process.join(2)  # reap it, so the exit code is known
            code = child.process.exitcode
            self._discard(listener, f"the runner process died (exit code {code})")
            raise ProviderError(f"the runner process died (exit code {code})")

    def _failure(
        self, message: ChildMessage, request: GenerationRequest, listener: RunnerListener
    ) -> Exception:
        code, text = message.get("code"), str(message.get("message", ""))
        self._note_memory(message.get("memory"), listener)
        if code == "invalid_input":
            return InvalidInput(f"model {request.model.id!r}: {text}", job_id=request.job_id)
        self._kill(listener, f"{code}: {text}")
        if code == "oom":
            return OutOfMemory(f"out of memory: {text}", job_id=request.job_id)
        return ProviderError(text or "the runner failed", job_id=request.job_id)

    # --- cleanup --------------------------------------------------------------------------

    def _kill(self, listener: RunnerListener, reason: str) -> None:
        """Ends the child and records what it held; the next item starts a fresh one."""
        child, self._child = self._child, None
        if child is None:
            return
        pid = child.pid
        held = process_memory(pid) if pid else None
        child.process.kill()
        child.process.join(10)
        child.conn.close()
        data: dict[str, Any] = {"reason": reason, "action": "killed the runner process", "pid": pid}
        if held is not None:
            data.update(
                {
                    "kind": "process",
                    "end_bytes": 0,
                    "start_bytes": held[0],
                    "peak_bytes": held[1],
                    "rss_before_kill_bytes": held[0],
                }
            )
        log.warning("runner process %s killed: %s", pid, reason)
        listener.note(
            NOTE_CLEANUP,
            f"runner process {pid} killed ({reason}); all of its "
            "memory, GPU memory included, is released",
            data,
        )

    def _discard(self, listener: RunnerListener, reason: str) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        child.process.join(1)
        child.conn.close()
        listener.note(
            NOTE_CLEANUP,
            f"{reason}; a fresh runner process will start",
            {
                "reason": reason,
                "action": "replaced the runner process",
                "pid": child.pid,
                "exit_code": child.process.exitcode,
            },
        )

    @staticmethod
    def _note_load(message: ChildMessage, listener: RunnerListener) -> None:
        model_id = str(message.get("model_id"))
        for lora_id in message.get("loras_loaded") or []:
            listener.note(NOTE_LORA_LOADED, f"LoRA {lora_id} loaded", {"model_id": str(lora_id)})
        seconds = float(message.get("seconds", 0.0))
        facts = {"model_id": model_id, "seconds": seconds, "warm": list(message.get("warm", []))}
        if message.get("cached"):
            listener.note(NOTE_MODEL_CACHED, f"model {model_id} already loaded (warm)", facts)
        else:
            listener.note(NOTE_MODEL_LOADED, f"model {model_id} loaded in {seconds:.2f}s", facts)

    @staticmethod
    def _note_memory(memory: Any, listener: RunnerListener) -> None:
        if not isinstance(memory, dict):
            return
        kind = memory.get("kind")
        what = "GPU memory" if kind == "cuda" else "process memory (no CUDA)"
        mib = {
            k: round(int(memory.get(k, 0)) / 2**20, 1)
            for k in ("start_bytes", "peak_bytes", "end_bytes")
        }
        listener.note(
            NOTE_MEMORY,
            f"{what}: start {mib['start_bytes']} MiB, peak "
            f"{mib['peak_bytes']} MiB, end {mib['end_bytes']} MiB",
            dict(memory),
        )
