"""A job while this worker holds it: what every job type does with its claimed job."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from dreamforge_core.domain.job import Job, JobState
from dreamforge_core.errors import DreamForgeError
from dreamforge_core.use_cases.job_ports import JobPorts
from dreamforge_core.use_cases.progress_pacer import ProgressPacer


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class JobLimits:
    """The limits one worker runs its jobs under."""

    step_timeout_s: float = 1800.0  # the whole attempt; past it the attempt fails `timeout`
    progress_interval_s: float = 0.1  # at most one stored progress event per item this often
    lease_s: float = 60.0  # a running job whose lease lapses this long is presumed abandoned
    worker_id: str = field(default_factory=_default_worker_id)


class RunningJob:
    """A claimed job: one lock around the job object (the runner's reports, the storing
    thread and the lease renewal all change it), saves that renew the lease and publish
    the events, and the pacing of progress writes."""

    def __init__(self, store: JobPorts, job: Job, lease_s: float, pacer: ProgressPacer) -> None:
        self.store = store
        self.job = job
        self.lock = threading.RLock()
        self.started = time.monotonic()
        self.pacer = pacer
        self._lease = timedelta(seconds=lease_s)
        self._on_failure: list[Callable[[], None]] = []

    def save(self) -> None:
        with self.lock:
            if self.job.state is JobState.RUNNING:
                self.job.renew_lease(self.store.clock.now() + self._lease)
            events = self.store.repo.save(self.job)
            self.pacer.written(time.monotonic())
        self.store.bus.publish(events)

    def hold(self, since: float) -> None:
        """Something was recorded without a write; the next write takes it along."""
        with self.lock:
            self.pacer.hold(since)

    def beat(self) -> None:
        """Renews the lease (called by the lease renewal); a failure shows at the next save."""
        with self.lock:
            if self.job.state is not JobState.RUNNING:
                return
            with contextlib.suppress(DreamForgeError):
                self.save()

    def when_failed(self, undo: Callable[[], None]) -> None:
        """`undo` runs once the job fails for good, just before that is saved: it removes
        what only a retry would have used."""
        self._on_failure.append(undo)

    def failing(self) -> None:
        for undo in self._on_failure:
            undo()
