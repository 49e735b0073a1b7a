"""The API a stack benchmark measures: a started stack or a running API given by `--url`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from dreamforge_apps.benchmarks.stack_processes import StackUnderTest

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


@dataclass
class Target:
    host: str
    port: int
    stack: StackUnderTest | None  # None: a running API given by --url

    def pids(self) -> dict[str, int]:
        return self.stack.pids() if self.stack else {"bench_client": os.getpid()}

    def worker(self, step_delay_s: float | None) -> None:
        """Makes the started stack's worker run with this fake step delay (None: stopped)."""
        stack = self.stack
        if stack is None or stack.worker_delay_s == step_delay_s:
            return
        stack.stop_worker()
        if step_delay_s is not None:
            stack.start_worker(step_delay_s)
