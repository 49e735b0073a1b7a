"""One request on its way through the child, as the parent follows it."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from dreamforge_adapters.sdxl.child_process import ChildProcess
from dreamforge_adapters.sdxl.protocol import ChildMessage
from dreamforge_core.ports.runner import RunnerListener

log = logging.getLogger(__name__)

INTERRUPT_GRACE_S = 1.0
"""How long past one step an abandoned request may take to stop before its child is killed."""


class Following:
    """One request on its way through the child: its id, and whether its end was seen."""

    def __init__(self, child: ChildProcess, request_id: str) -> None:
        self.child = child
        self.request_id = request_id
        self.settled = False
        self.longest_step_s = 0.0
        self._last = time.monotonic()

    def owns(self, message: ChildMessage) -> bool:
        return message.get("request_id") == self.request_id

    def stepped(self) -> None:
        now = time.monotonic()
        self.longest_step_s = max(self.longest_step_s, now - self._last)
        self._last = now

    def loaded(self) -> None:
        self._last = time.monotonic()  # a step's time starts after the model load


class QuietListener:
    """Passes notes on but never raises: the listener that failed is often the one to tell."""

    def __init__(self, listener: RunnerListener) -> None:
        self._listener = listener

    def step(self, done: int, total: int) -> None:
        with contextlib.suppress(Exception):
            self._listener.step(done, total)

    def preview(self, step: int, total: int, jpeg: bytes) -> None:
        with contextlib.suppress(Exception):
            self._listener.preview(step, total, jpeg)

    def note(self, code: str, message: str, data: Mapping[str, Any]) -> None:
        try:
            self._listener.note(code, message, data)
        except Exception as e:
            log.warning("could not record runner note %s (%r): %s", code, e, message)
