"""Keeps the leases of running jobs alive through long silent stretches (a model load, a
slow step), so other workers do not take their jobs over.

One thread per use case beats for every job it holds, every third of the lease; a job
that saves on its own anyway gains nothing from a beat but loses nothing either. A thread
per job would cost a start and a join on every job, however short. The thread comes from
the `Threads` port.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from dreamforge_core.ports.threads import Threads


class Beating(Protocol):
    def beat(self) -> None:
        """Renews the lease; must not raise."""


class LeaseRenewal:
    def __init__(self, interval_s: float, threads: Threads) -> None:
        self._interval_s = interval_s
        self._threads = threads
        self._held: set[Beating] = set()
        self._lock = threading.Lock()
        self._started = False

    def keep(self, job: Beating) -> None:
        with self._lock:
            self._held.add(job)
            if not self._started:
                self._started = True
                self._threads.daemon("dreamforge-lease", self._run)

    def release(self, job: Beating) -> None:
        with self._lock:
            self._held.discard(job)

    def _run(self) -> None:
        # For the life of the process: it idles between beats, with or without jobs.
        while True:
            time.sleep(self._interval_s)
            with self._lock:
                held = list(self._held)
            for job in held:
                job.beat()
