"""The WarmRoster in one process (tests, and workers that share a process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from dreamforge_core.ports.warm_models import WarmRoster


class MemoryWarmRoster(WarmRoster):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[frozenset[str], float]] = {}

    def advertise(self, worker_id: str, model_ids: Sequence[str], ttl_s: float) -> None:
        with self._lock:
            self._entries[worker_id] = (frozenset(model_ids), time.monotonic() + ttl_s)

    def warm_elsewhere(self, worker_id: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            found: set[str] = set()
            for other, (models, until) in self._entries.items():
                if other != worker_id and until > now:
                    found |= models
            return frozenset(found)

    def withdraw(self, worker_id: str) -> None:
        with self._lock:
            self._entries.pop(worker_id, None)
