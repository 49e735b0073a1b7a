"""The gap between jobs of a busy worker: from one job's end to the next job's start.

Each second of it is accelerator time thrown away while a backlog waits, and no per-job
figure shows it (a job's own latency starts when it is claimed). Only gaps with a job
already waiting count: the start of a job created after the last end is an idle pickup,
which the queue-wait histogram measures.
"""

from __future__ import annotations

import threading
from datetime import datetime

from dreamforge_core.domain.job import Job


class WorkerGap:
    """Remembers when this worker's last job ended; measures the next start against it.

    One per executor. With several worker threads the figure is the gap of the executor as a
    whole (the GPU worker runs one thread, where it is exactly the idle time between jobs).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_end: datetime | None = None

    def ended(self, at: datetime) -> None:
        with self._lock:
            if self._last_end is None or at > self._last_end:
                self._last_end = at

    def started(self, job: Job, at: datetime) -> float | None:
        """Seconds since the last end when `job` was already waiting then; None otherwise."""
        with self._lock:
            last = self._last_end
        if last is None or job.attempts > 0 or job.created_at > last:
            return None  # first job, a retry (its wait is its backoff), or an idle pickup
        return max(0.0, (at - last).total_seconds())
