"""Threads, as the use cases ask for them: the core starts none itself.

A job's lease is renewed from a thread that outlives any one job, and an image is stored
on a second thread while the runner generates the next one. The apps pass the process's
own implementation; the core only says what it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Protocol


class Threads(Protocol):
    def daemon(self, name: str, target: Callable[[], None]) -> None:
        """Starts `target` on a daemon thread that lives as long as the process."""
        ...

    def single(self, name: str) -> Executor:
        """A new executor with one thread, started on first use; its user shuts it down."""
        ...
