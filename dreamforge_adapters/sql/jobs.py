"""The parts of a job repository that are the same on every SQL store: numbering the events a
write stores, updating the caller's job once the write committed, and counting jobs by state.

A save's events are numbered by the database, after the job's stored counter, not after the
caller's copy of it: a webhook attempt may have added a line to the job's log since the caller
read the job, and that does not make the caller's change a conflict.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Generic, TypeVar

from dreamforge_adapters.sql.dialect import Dialect, SqlStore
from dreamforge_core.domain.events import Event
from dreamforge_core.domain.job import Job, JobState
from dreamforge_core.domain.routing import QueuedTurn

_COUNT_BY_STATE = "SELECT state, count(*) AS jobs FROM jobs GROUP BY state"
# Answered from the partial index `jobs_active_by_key` (migration 0004).
# Reads at most `up_to` entries of the index, however many jobs the caller has queued.
_COUNT_ACTIVE = (
    "SELECT count(*) AS jobs FROM (SELECT 1 FROM jobs "
    "WHERE state IN ('queued', 'running') AND key_fingerprint = {key} LIMIT {up_to}) AS active"
)


def events_to_store(job: Job) -> list[Event]:
    """The job's pending events numbered 1, 2, …: the write adds the stored counter."""
    return [Event.stored(job.id, 1 + i, d) for i, d in enumerate(job.pending_events)]


def numbered(events: list[Event], base: int) -> list[Event]:
    """The events as stored after a counter that stood at `base`."""
    return [replace(e, seq=base + e.seq) for e in events] if base else events


def mark_stored(job: Job, last_seq: int) -> None:
    """What the caller's object must look like once its changes are committed; a failed write
    leaves it as it was, ready to be saved again."""
    job.take_events()
    job.take_artifacts()
    job.take_webhooks()
    job.last_seq = last_seq
    job.version += 1


def count_by_state(store: SqlStore) -> dict[str, int]:
    """Every state, those without jobs at 0."""
    counts = dict.fromkeys((s.value for s in JobState), 0)
    for row in store.fetch(_COUNT_BY_STATE, {}):
        counts[row["state"]] = row["jobs"]
    return counts


def count_active(store: SqlStore, dialect: Dialect, key_fingerprint: str, up_to: int) -> int:
    """The caller's jobs that are queued or running, up to `up_to`."""
    statement = _COUNT_ACTIVE.format(key=dialect.param("key"), up_to=dialect.param("up_to"))
    rows = store.fetch(statement, {"key": key_fingerprint, "up_to": up_to})
    return int(rows[0]["jobs"])


# Both read the partial index `jobs_queued_in_order` (migration 0005).
_NEXT_QUEUED = (
    "SELECT id FROM jobs WHERE state = 'queued' AND type = {type} "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= {now}) "
    "ORDER BY priority DESC, created_at, id{text_order} LIMIT 1"
)
_FRONT = (
    "SELECT id, model_id, priority, created_at, next_attempt_at FROM jobs "
    "WHERE state = 'queued' AND type = {type} "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= {now}) "
    "ORDER BY priority DESC, created_at, id{text_order} LIMIT {limit}"
)
_AHEAD = (
    "SELECT count(*) AS jobs FROM jobs WHERE state = 'queued' AND type = {type} "
    "AND (priority > {priority} OR (priority = {priority} AND (created_at < {created} "
    "OR (created_at = {created} AND id < {id}))))"
)


def next_queued(store: SqlStore, dialect: Dialect, job_type: str, now: datetime) -> str | None:
    """The queued job of this type that should start now: highest priority, then oldest,
    among those whose retry time (if any) has come."""
    statement = _NEXT_QUEUED.format(
        type=dialect.param("type"), now=dialect.param("now"), text_order=dialect.text_order
    )
    rows = store.fetch(statement, {"type": job_type, "now": dialect.values.time_out(now)})
    return str(rows[0]["id"]) if rows else None


def queued_front(
    store: SqlStore, dialect: Dialect, job_type: str, now: datetime, limit: int
) -> list[QueuedTurn]:
    """The first `limit` due queued jobs of this type, in start order."""
    p = dialect.param
    statement = _FRONT.format(
        type=p("type"), now=p("now"), limit=p("limit"), text_order=dialect.text_order
    )
    values = {"type": job_type, "now": dialect.values.time_out(now), "limit": limit}
    return [
        QueuedTurn(
            job_id=str(row["id"]),
            model_id=str(row["model_id"]),
            priority=int(row["priority"]),
            created_at=dialect.values.time_in(row["created_at"]),
            next_attempt_at=dialect.values.time(row["next_attempt_at"]),
        )
        for row in store.fetch(statement, values)
    ]


def jobs_ahead(store: SqlStore, dialect: Dialect, job: Job) -> int:
    """How many queued jobs of the job's type start before it."""
    p = dialect.param
    statement = _AHEAD.format(
        type=p("type"), priority=p("priority"), created=p("created"), id=p("id")
    )
    values = {
        "type": job.type,
        "priority": job.priority,
        "created": dialect.values.time_out(job.created_at),
        "id": job.id,
    }
    return int(store.fetch(statement, values)[0]["jobs"])


Store = TypeVar("Store", bound=SqlStore)


class JobCounts(Generic[Store]):
    """The reads both SQL job repositories answer with the same statements: counts by state,
    the caller's active jobs, the next job to start and a job's place in the queue."""

    database: Store
    dialect: Dialect

    def count_by_state(self) -> dict[str, int]:
        return count_by_state(self.database)

    def count_active(self, key_fingerprint: str, up_to: int) -> int:
        return count_active(self.database, self.dialect, key_fingerprint, up_to)

    def next_queued(self, job_type: str, now: datetime) -> str | None:
        return next_queued(self.database, self.dialect, job_type, now)

    def queued_front(self, job_type: str, now: datetime, limit: int) -> list[QueuedTurn]:
        return queued_front(self.database, self.dialect, job_type, now, limit)

    def jobs_ahead(self, job: Job) -> int:
        return jobs_ahead(self.database, self.dialect, job)
