"""The process's threads, for the core's `Threads` port."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor

from dreamforge_core.ports.threads import Threads


class SystemThreads(Threads):
    def daemon(self, name: str, target: Callable[[], None]) -> None:
        threading.Thread(target=target, name=name, daemon=True).start()

    def single(self, name: str) -> Executor:
        return ThreadPoolExecutor(1, thread_name_prefix=name)
