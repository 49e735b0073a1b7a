"""What every attempt at a claimed job shares, whatever the job does: one lock around the job
object, saves that renew the lease and publish the events, records that ride along with the
next save, and the heartbeat the lease keeper calls."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import datetime, timedelta
from typing import Protocol

from dreamforge_core.domain.job import Job, JobState
from dreamforge_core.errors import DreamForgeError
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.use_cases.lease_keeper import LeaseKeeper


class JobStore(Protocol):
    """The ports an attempt saves through."""

    @property
    def repo(self) -> JobRepo: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def clock(self) -> Clock: ...


class JobAttempt:
    def __init__(self, store: JobStore, job: Job, leases: LeaseKeeper, lease_s: float) -> None:
        self.store = store
        self.job = job
        self.lock = threading.RLock()  # guards the job object: several threads change it
        self.started = time.monotonic()
        self.saved_at = 0.0  # monotonic time of the last save: progress writes are paced by it
        self._held_since: float | None = None  # when the oldest unwritten record was made
        self._leases = leases
        self._lease = timedelta(seconds=lease_s)
        leases.keep(self)

    def lease_until(self, now: datetime) -> datetime:
        return now + self._lease

    def execute(self) -> None:
        """Runs the job's work; a DreamForgeError fails the attempt with its code."""
        raise NotImplementedError

    def failed(self) -> None:
        """The job fails for good after this attempt (called just before that is saved):
        undo what only a retry would have used."""

    def save(self) -> None:
        with self.lock:
            if self.job.state is JobState.RUNNING:
                self.job.renew_lease(self.lease_until(self.store.clock.now()))
            events = self.store.repo.save(self.job)
            self.saved_at = time.monotonic()
            self._held_since = None
        self.store.bus.publish(events)

    def hold(self, since: float) -> None:
        """Something was recorded without a write; the next write takes it along."""
        with self.lock:
            if self._held_since is None:
                self._held_since = since

    def unwritten_for(self, now: float) -> float:
        """How long the oldest record not yet written has waited (0 when there is none)."""
        held = self._held_since
        return 0.0 if held is None else now - held

    def beat(self) -> None:
        """Renews the lease (called by the lease keeper); a failure shows at the next save."""
        with self.lock:
            if self.job.state is not JobState.RUNNING:
                return
            with contextlib.suppress(DreamForgeError):
                self.save()

    def close(self) -> None:
        self._leases.release(self)
