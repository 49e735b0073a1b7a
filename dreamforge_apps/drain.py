"""A graceful stop of a process that runs jobs (SIGTERM, SIGINT): the StopSignal its attempts
read.

`begin` opens the drain window: attempts start no further image and hand their job back; the
image in progress may finish within the window and, past it, stops at its next step. A runner
that reports no step for a while (a model load) would hold the stop past the orchestrator's
grace period, so its process is killed `RUNNER_KILL_AFTER_S` after the window if the attempts
have not returned by then (`end`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time

from dreamforge_core.ports.runner import Runner
from dreamforge_core.ports.stop_signal import StopSignal

log = logging.getLogger(__name__)

#: How long after the drain window a runner process still busy is killed.
RUNNER_KILL_AFTER_S = 5.0
#: What a stopping process allows beyond that for the hand back before it closes anyway.
HAND_BACK_S = 5.0


def join_timeout_s(window_s: float, kill_after_s: float = RUNNER_KILL_AFTER_S) -> float:
    """How long a stopping process waits for its attempts to return, for a drain window."""
    return window_s + kill_after_s + HAND_BACK_S


class Drain(StopSignal):
    def __init__(
        self, window_s: float, runner: Runner, kill_after_s: float = RUNNER_KILL_AFTER_S
    ) -> None:
        self.window_s = window_s
        self._runner = runner
        self._kill_after_s = kill_after_s
        self._deadline: float | None = None
        self._begun = threading.Event()
        self._ended = threading.Event()
        watch = threading.Thread(target=self._watch, name="dreamforge-drain", daemon=True)
        watch.start()

    @property
    def join_timeout_s(self) -> float:
        return join_timeout_s(self.window_s, self._kill_after_s)

    @property
    def requested(self) -> bool:
        return self._deadline is not None

    @property
    def overdue(self) -> bool:
        deadline = self._deadline
        return deadline is not None and time.monotonic() >= deadline

    def begin(self) -> None:
        """Opens the drain window; later calls change nothing. Safe in a signal handler: it
        logs nothing, and the deadline is set before the event, so a signal that arrives
        during `begin` returns at once."""
        if self._deadline is not None:
            return
        self._deadline = time.monotonic() + self.window_s
        self._begun.set()

    def end(self) -> None:
        """The attempts have returned: nothing is left to interrupt."""
        self._ended.set()

    def _watch(self) -> None:
        self._begun.wait()
        deadline = self._deadline
        assert deadline is not None
        log.info("stopping: a job in progress, if any, has %gs to finish its image", self.window_s)
        late = deadline + self._kill_after_s - time.monotonic()
        if self._ended.wait(max(0.0, late)):
            return
        pid = getattr(self._runner, "child_pid", None)  # the SDXL runner's process
        if isinstance(pid, int):
            log.warning("stopping: runner process %d still busy after the drain; killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
