from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from dreamforge_core.domain.artifact import Artifact
from dreamforge_core.domain.events import Event
from dreamforge_core.domain.job import Job, JobState
from dreamforge_core.domain.routing import QueuedTurn


class EventSource(Protocol):
    """Where stored events are read back (a JobRepo is one)."""

    def events(
        self,
        job_id: str,
        *,
        after_seq: int = 0,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events oldest first with seq > after_seq and ts >= since, at most `limit`."""
        ...


class JobRepo(EventSource, Protocol):
    """Durable jobs, steps, events and artifacts.

    Rules every implementation keeps: `create` and `save` store the job, its pending events and
    its new artifacts in one transaction; event sequence numbers increase by one per job in the
    order events were recorded; `save` refuses a job changed by someone else since it was read
    (raises ConcurrentUpdate), so only one writer runs a job at a time.
    """

    def create(self, job: Job, idempotency_since: datetime) -> tuple[Job, bool]:
        """Inserts `job`, or returns the job already holding its idempotency key.

        A key used before `idempotency_since` is released and may be taken again. Returns the
        stored job and whether it was created now. Concurrent calls with one key create one job.
        """
        ...

    def get(self, job_id: str) -> Job | None: ...

    def save(self, job: Job) -> list[Event]:
        """Stores the job's changes; returns its pending events as stored (with seq)."""
        ...

    def last_events(self, job_id: str, n: int, *, since: datetime | None = None) -> list[Event]:
        """The last n events (oldest first) with ts >= since."""
        ...

    def artifacts(self, job_id: str) -> list[Artifact]: ...

    def job_ids_in(self, states: Sequence[JobState]) -> list[str]: ...

    def count_by_state(self) -> dict[str, int]: ...

    def next_queued(self, job_type: str, now: datetime) -> str | None:
        """The queued job of this type that should start now: highest priority first, oldest
        first within one, among those whose retry time (if any) has come."""
        ...

    def queued_front(self, job_type: str, now: datetime, limit: int) -> list[QueuedTurn]:
        """The first `limit` queued jobs of this type that are due, in the order
        `next_queued` takes them (what model routing chooses from)."""
        ...

    def jobs_ahead(self, job: Job) -> int:
        """How many queued jobs of the job's type start before it (0: it is next)."""
        ...

    def count_active(self, key_fingerprint: str, up_to: int) -> int:
        """How many jobs of the caller with this key fingerprint are queued or running,
        counting no further than `up_to` (a limit needs no more)."""
        ...

    def ping(self) -> None:
        """Raises Unavailable when the store cannot be reached."""
        ...
