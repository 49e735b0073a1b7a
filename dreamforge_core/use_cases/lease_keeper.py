"""Keeps the leases of running attempts alive through long silent stretches (a model load, a
slow step), so other workers do not take their jobs over.

One thread per worker process beats for every attempt it holds, every third of the lease;
an attempt that saves on its own anyway gains nothing from a beat but loses nothing either.
A thread per attempt would cost a start and a join on every job, however short.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Beating(Protocol):
    def beat(self) -> None:
        """Renews the lease; must not raise."""


class LeaseKeeper:
    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._held: set[Beating] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def keep(self, attempt: Beating) -> None:
        with self._lock:
            self._held.add(attempt)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="dreamforge-lease", daemon=True
                )
                self._thread.start()

    def release(self, attempt: Beating) -> None:
        with self._lock:
            self._held.discard(attempt)

    def _run(self) -> None:
        # A daemon for the life of the process: it idles between beats, with or without jobs.
        while True:
            time.sleep(self._interval_s)
            with self._lock:
                held = list(self._held)
            for attempt in held:
                attempt.beat()
