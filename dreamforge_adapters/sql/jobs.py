"""The parts of a job repository that are the same on every SQL store: numbering the events a
write stores, updating the caller's job once the write committed, and counting jobs by state.
"""

from __future__ import annotations

from dreamforge_adapters.sql.dialect import Dialect, SqlStore
from dreamforge_core.domain.events import Event
from dreamforge_core.domain.job import Job, JobState

_COUNT_BY_STATE = "SELECT state, count(*) AS jobs FROM jobs GROUP BY state"
# Answered from the partial index `jobs_active_by_key` (migration 0004).
# Reads at most `up_to` entries of the index, however many jobs the caller has queued.
_COUNT_ACTIVE = (
    "SELECT count(*) AS jobs FROM (SELECT 1 FROM jobs "
    "WHERE state IN ('queued', 'running') AND key_fingerprint = {key} LIMIT {up_to}) AS active"
)


def events_to_store(job: Job) -> list[Event]:
    """The job's pending events with the sequence numbers they are stored under."""
    first = job.last_seq + 1
    return [Event.stored(job.id, first + i, d) for i, d in enumerate(job.pending_events)]


def mark_stored(job: Job, events: list[Event]) -> None:
    """What the caller's object must look like once its changes are committed; a failed write
    leaves it as it was, ready to be saved again."""
    job.take_events()
    job.take_artifacts()
    job.last_seq += len(events)
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
