from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from dreamforge_core.domain.artifact import Artifact
from dreamforge_core.domain.clock import new_id
from dreamforge_core.domain.events import Event
from dreamforge_core.domain.job import Job, JobState
from dreamforge_core.domain.routing import QueuedTurn
from dreamforge_core.domain.webhooks import Delivery
from dreamforge_core.errors import ConcurrentUpdate, DreamForgeError, NotFound
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.webhooks import AttemptRecord, WebhookBodies, WebhookOutbox, messages


class MemoryJobRepo(JobRepo, WebhookOutbox):
    """Keeps copies, never the caller's objects, so it behaves like a real store. It is its
    own webhook outbox, as a database holds both."""

    def __init__(self, webhook_bodies: WebhookBodies | None = None) -> None:
        self.webhook_bodies = webhook_bodies
        self.deliveries: dict[str, _Waiting] = {}
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._keys: dict[tuple[str, str], str] = {}  # (key fingerprint, idempotency key) → id
        self._events: dict[str, list[Event]] = {}
        self._artifacts: dict[str, dict[tuple[str, int], Artifact]] = {}

    def create(self, job: Job, idempotency_since: datetime) -> tuple[Job, bool]:
        with self._lock:
            if job.id in self._jobs:
                raise DreamForgeError(f"job {job.id} already exists")
            key = (
                None if job.idempotency_key is None else (job.key_fingerprint, job.idempotency_key)
            )
            if key is not None and key in self._keys:
                existing = self._jobs[self._keys[key]]
                if existing.created_at >= idempotency_since:
                    return copy.deepcopy(existing), False
                existing.idempotency_key = None
            self._jobs[job.id] = job
            self._events[job.id] = []
            self._artifacts[job.id] = {}
            if key is not None:
                self._keys[key] = job.id
            self._store_changes(job)
            return copy.deepcopy(job), True

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return copy.deepcopy(job) if job else None

    def save(self, job: Job) -> list[Event]:
        with self._lock:
            current = self._jobs.get(job.id)
            if current is None:
                raise NotFound(f"no job with id {job.id!r}")
            if current.version != job.version:
                raise ConcurrentUpdate(f"job {job.id} changed since it was read", job_id=job.id)
            job.idempotency_key = current.idempotency_key  # set at creation, released only here
            return self._store_changes(job)

    def _store_changes(self, job: Job) -> list[Event]:
        for message in messages(job, self.webhook_bodies, new_id):
            self.deliveries[message.id] = _Waiting(message, message.created_at)
        last = self._jobs[job.id].last_seq  # the stored counter: attempts add to it
        stored = [Event.stored(job.id, last + i + 1, d) for i, d in enumerate(job.pending_events)]
        for artifact in job.new_artifacts:
            self._artifacts[job.id][(artifact.step, artifact.item_index)] = artifact
        self._events[job.id].extend(stored)
        job.take_events()
        job.take_artifacts()
        job.take_webhooks()
        job.last_seq = last + len(stored)
        job.version += 1
        self._jobs[job.id] = copy.deepcopy(job)
        return stored

    # --- the webhook outbox -------------------------------------------------------------------

    def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        with self._lock:
            due = sorted(
                (w for w in self.deliveries.values() if w.due is not None and w.due <= now),
                key=lambda w: w.due or now,
            )[:limit]
            for waiting in due:
                waiting.due = lease_until
            return [waiting.delivery for waiting in due]

    def record(self, attempt: AttemptRecord) -> list[Event]:
        with self._lock:
            delivery = attempt.delivery
            waiting = self.deliveries[delivery.id]
            waiting.delivery = replace(delivery, attempts=delivery.attempts + 1)
            waiting.due = attempt.retry_at
            waiting.delivered = attempt.delivered
            job = self._jobs[delivery.job_id]
            job.last_seq += 1
            event = Event.stored(job.id, job.last_seq, attempt.event)
            self._events[job.id].append(event)
            return [event]

    def next_due(self) -> datetime | None:
        with self._lock:
            return min((w.due for w in self.deliveries.values() if w.due is not None), default=None)

    def events(
        self,
        job_id: str,
        *,
        after_seq: int = 0,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        with self._lock:
            found = [
                e
                for e in self._events.get(job_id, [])
                if e.seq > after_seq and (since is None or e.ts >= since)
            ]
        return found[:limit] if limit is not None else found

    def last_events(self, job_id: str, n: int, *, since: datetime | None = None) -> list[Event]:
        found = self.events(job_id, since=since)
        return found[-n:] if n > 0 else []

    def artifacts(self, job_id: str) -> list[Artifact]:
        with self._lock:
            rows = self._artifacts.get(job_id, {})
            return sorted(rows.values(), key=lambda a: (a.step, a.item_index))

    def job_ids_in(self, states: Sequence[JobState]) -> list[str]:
        with self._lock:
            return sorted(j.id for j in self._jobs.values() if j.state in states)

    def next_queued(self, job_type: str, now: datetime) -> str | None:
        with self._lock:
            due = [
                j
                for j in self._jobs.values()
                if j.state is JobState.QUEUED
                and j.type == job_type
                and (j.next_attempt_at is None or j.next_attempt_at <= now)
            ]
            return min(due, key=_queue_order).id if due else None

    def queued_front(self, job_type: str, now: datetime, limit: int) -> list[QueuedTurn]:
        with self._lock:
            due = sorted(
                (
                    j
                    for j in self._jobs.values()
                    if j.state is JobState.QUEUED
                    and j.type == job_type
                    and (j.next_attempt_at is None or j.next_attempt_at <= now)
                ),
                key=_queue_order,
            )
            return [
                QueuedTurn(j.id, j.model_id, j.priority, j.created_at, j.next_attempt_at)
                for j in due[:limit]
            ]

    def jobs_ahead(self, job: Job) -> int:
        with self._lock:
            return sum(
                1
                for j in self._jobs.values()
                if j.state is JobState.QUEUED
                and j.type == job.type
                and _queue_order(j) < _queue_order(job)
            )

    def count_active(self, key_fingerprint: str, up_to: int) -> int:
        with self._lock:
            active = sum(
                1
                for j in self._jobs.values()
                if j.key_fingerprint == key_fingerprint and not j.state.terminal
            )
            return min(active, up_to)

    def count_by_state(self) -> dict[str, int]:
        with self._lock:
            counts = dict.fromkeys((s.value for s in JobState), 0)
            for job in self._jobs.values():
                counts[job.state.value] += 1
            return counts

    def ping(self) -> None:
        return None


@dataclass(slots=True)
class _Waiting:
    """A message and when it is next due (None: delivered or given up)."""

    delivery: Delivery
    due: datetime | None
    delivered: bool = False


def _queue_order(job: Job) -> tuple[int, datetime, str]:
    return (-job.priority, job.created_at, job.id)
