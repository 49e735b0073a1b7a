"""The drain of a stopping process: a window for the image in progress, then the runner's
process is killed if the attempts have not returned."""

from __future__ import annotations

import signal
import subprocess
import sys

from dreamforge_apps.drain import Drain
from dreamforge_core.ports.runner import GeneratedImage, GenerationRequest, RunnerListener


class _InProcessRunner:
    """A runner without a process of its own (the fake runner)."""

    def generate(self, request: GenerationRequest, listener: RunnerListener) -> GeneratedImage:
        raise NotImplementedError

    def close(self) -> None:
        return None


class _ChildRunner:
    """A runner whose process never answers (a model load that outlives the drain)."""

    def __init__(self) -> None:
        self.child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])

    @property
    def child_pid(self) -> int | None:
        return self.child.pid if self.child.poll() is None else None

    def generate(self, request: GenerationRequest, listener: RunnerListener) -> GeneratedImage:
        raise NotImplementedError

    def close(self) -> None:
        if self.child.poll() is None:
            self.child.kill()
        self.child.wait(10)


def test_begin_opens_the_window_once() -> None:
    drain = Drain(3600, _InProcessRunner())
    assert not drain.requested
    assert not drain.overdue
    drain.begin()
    drain.begin()
    assert drain.requested
    assert not drain.overdue
    drain.end()


def test_a_zero_window_is_overdue_at_once() -> None:
    drain = Drain(0, _InProcessRunner(), kill_after_s=0)
    drain.begin()
    assert drain.overdue
    drain.end()


def test_a_runner_still_busy_after_the_drain_is_killed() -> None:
    runner = _ChildRunner()
    try:
        drain = Drain(0, runner, kill_after_s=0)
        drain.begin()
        assert runner.child.wait(30) == -signal.SIGKILL
    finally:
        runner.close()
