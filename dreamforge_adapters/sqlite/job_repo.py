"""JobRepo on SQLite: every create and save is one transaction, so jobs, events and artifacts
never disagree, and the per-job event counter moves with its event rows.

Rows are encoded before the lock is taken, so the lock covers only the statements. The job
object is changed (version, last_seq, pending lists) only after COMMIT: a failed write leaves it
as it was, ready to be saved again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from os import PathLike

from dreamforge_adapters.sql import records as rec
from dreamforge_adapters.sql.jobs import JobCounts, events_to_store, mark_stored, numbered
from dreamforge_adapters.sql.records import columns
from dreamforge_adapters.sqlite.codec import DIALECT, VALUES, params
from dreamforge_adapters.sqlite.database import SqliteDatabase, fetch_rows
from dreamforge_core.domain.artifact import Artifact
from dreamforge_core.domain.clock import iso, new_id
from dreamforge_core.domain.events import Event
from dreamforge_core.domain.job import Job, JobState
from dreamforge_core.errors import ConcurrentUpdate, NotFound
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.webhooks import WebhookBodies, messages

_V = rec.ROW_SCHEMA_VERSION
_GET = f"{rec.JOB_WITH_STEPS} WHERE j.id = ? ORDER BY s.position"
_BY_KEY = "SELECT id, created_at FROM jobs WHERE key_fingerprint = ? AND idempotency_key = ?"
_RELEASE_KEY = "UPDATE jobs SET idempotency_key = NULL WHERE id = ?"
_INSERT_JOB = f"INSERT INTO jobs ({columns(rec.JOB_COLUMNS)}) VALUES ({params(rec.JOB_COLUMNS)})"
_UPDATE_JOB = (
    f"UPDATE jobs SET {', '.join(f'{c} = :{c}' for c in rec.JOB_CHANGED_COLUMNS)}, "
    "last_seq = last_seq + :new_events, version = version + 1 "
    "WHERE id = :id AND version = :version RETURNING last_seq - :new_events"
)
_EXISTS = "SELECT 1 FROM jobs WHERE id = ?"
_INT64_MAX = 2**63 - 1


def _int64(n: int) -> int:
    """A count or sequence number from a client can exceed SQLite's integers; past them they
    all mean "everything" or "nothing after", so the largest integer says the same."""
    return min(n, _INT64_MAX)


_UPSERT_STEP = (
    f"INSERT INTO steps ({columns(rec.STEP_COLUMNS)}, schema_version) "
    f"VALUES ({params(rec.STEP_COLUMNS)}, {_V}) "
    "ON CONFLICT (id) DO UPDATE SET position = excluded.position, name = excluded.name, "
    "state = excluded.state, attempts = excluded.attempts, last_error = excluded.last_error, "
    "started_at = excluded.started_at, finished_at = excluded.finished_at, "
    "items = excluded.items"
)
_INSERT_EVENT = (
    f"INSERT INTO events ({columns(rec.EVENT_COLUMNS)}, schema_version) "
    f"VALUES ({params(rec.EVENT_COLUMNS)}, {_V})"
)
_INSERT_DELIVERY = (
    f"INSERT INTO webhook_deliveries ({columns(rec.DELIVERY_COLUMNS)}) "
    f"VALUES ({params(rec.DELIVERY_COLUMNS)})"
)
_UPSERT_ARTIFACT = (
    f"INSERT OR REPLACE INTO artifacts ({columns(rec.ARTIFACT_COLUMNS)}, schema_version) "
    f"VALUES ({params(rec.ARTIFACT_COLUMNS)}, {_V})"
)
_EVENTS = (
    f"SELECT {columns(rec.EVENT_COLUMNS)} FROM events WHERE job_id = ? AND seq > ? AND ts >= ? "
    "ORDER BY seq LIMIT ?"
)
_LAST_EVENTS = (
    f"SELECT {columns(rec.EVENT_COLUMNS)} FROM events WHERE job_id = ? AND ts >= ? "
    "ORDER BY seq DESC LIMIT ?"
)
_ARTIFACTS = (
    f"SELECT {columns(rec.ARTIFACT_COLUMNS)} FROM artifacts WHERE job_id = ? "
    "ORDER BY step, item_index"
)


class SqliteJobRepo(JobCounts[SqliteDatabase], JobRepo):
    """Jobs in a SQLite file. Give it the shared `SqliteDatabase`, or a path to own one.
    `webhook_bodies` writes the body of each webhook message a change causes; it is stored in
    the same transaction, and `messages_stored` is called once that has committed."""

    dialect = DIALECT

    def __init__(
        self,
        database: SqliteDatabase | str | PathLike[str],
        *,
        webhook_bodies: WebhookBodies | None = None,
        messages_stored: Callable[[], None] | None = None,
    ) -> None:
        self.webhook_bodies = webhook_bodies
        self.messages_stored = messages_stored
        self._owns_database = not isinstance(database, SqliteDatabase)
        self.database = (
            database if isinstance(database, SqliteDatabase) else SqliteDatabase(database)
        )

    def close(self) -> None:
        """Closes the database if this repo opened it; a shared one is closed by its owner."""
        if self._owns_database:
            self.database.close()

    def create(self, job: Job, idempotency_since: datetime) -> tuple[Job, bool]:
        """Insert-or-return-existing under the write lock, so one key yields one job (per API
        key: the key's fingerprint scopes the lookup).

        Returns the caller's job itself, now stored (the database holds its own copy, so no
        deep copy is made on this hot path).
        """
        key = job.idempotency_key
        since = iso(idempotency_since)
        events = events_to_store(job)
        job_row = rec.job_record(
            VALUES, job, last_seq=job.last_seq + len(events), version=job.version + 1
        )
        rows = _Rows(job, events, self.webhook_bodies)
        with self.database.write() as conn:
            if key is not None:
                holder = conn.execute(_BY_KEY, (job.key_fingerprint, key)).fetchone()
                if holder is not None:
                    # Fixed-width ISO text compares as time. The load cannot miss: this
                    # transaction holds the write lock since before the key was read.
                    if holder[1] >= since and (existing := _load(conn, holder[0])) is not None:
                        return existing, False
                    conn.execute(_RELEASE_KEY, (holder[0],))  # used before the window: free
            conn.execute(_INSERT_JOB, job_row)
            rows.write(conn, base=0)
        mark_stored(job, len(events))
        self._tell(rows)
        return job, True

    def get(self, job_id: str) -> Job | None:
        with self.database.read() as conn:
            return _load(conn, job_id)

    def save(self, job: Job) -> list[Event]:
        events = events_to_store(job)
        changes = rec.job_changes(VALUES, job, new_events=len(events))
        rows = _Rows(job, events, self.webhook_bodies)
        with self.database.write() as conn:
            updated = conn.execute(_UPDATE_JOB, changes).fetchall()  # all: the statement ends
            if not updated:
                if conn.execute(_EXISTS, (job.id,)).fetchone() is None:
                    raise NotFound(f"no job with id {job.id!r}", job_id=job.id)
                raise ConcurrentUpdate(f"job {job.id} changed since it was read", job_id=job.id)
            base = int(updated[0][0])
            rows.write(conn, base=base)
        mark_stored(job, base + len(events))
        self._tell(rows)
        return numbered(events, base)

    def _tell(self, rows: _Rows) -> None:
        if rows.deliveries and self.messages_stored is not None:
            self.messages_stored()

    def events(
        self,
        job_id: str,
        *,
        after_seq: int = 0,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        bounds = (
            job_id,
            _int64(after_seq),
            iso(since) or "",
            -1 if limit is None else _int64(limit),
        )
        with self.database.read() as conn:
            rows = fetch_rows(conn, _EVENTS, bounds)
        return [rec.event_from_row(VALUES, r) for r in rows]

    def last_events(self, job_id: str, n: int, *, since: datetime | None = None) -> list[Event]:
        if n <= 0:
            return []
        with self.database.read() as conn:
            rows = fetch_rows(conn, _LAST_EVENTS, (job_id, iso(since) or "", _int64(n)))
        return [rec.event_from_row(VALUES, r) for r in reversed(rows)]

    def artifacts(self, job_id: str) -> list[Artifact]:
        with self.database.read() as conn:
            rows = fetch_rows(conn, _ARTIFACTS, (job_id,))
        return [rec.artifact_from_row(VALUES, r) for r in rows]

    def job_ids_in(self, states: Sequence[JobState]) -> list[str]:
        values = sorted({JobState(s).value for s in states})
        if not values:
            return []
        marks = ", ".join("?" * len(values))
        with self.database.read() as conn:
            rows = conn.execute(
                f"SELECT id FROM jobs WHERE state IN ({marks}) ORDER BY id", values
            ).fetchall()
        return [r[0] for r in rows]

    def ping(self) -> None:
        self.database.ping()


class _Rows:
    """A job's step, event, artifact and webhook message rows, encoded before the lock is
    taken; the events are numbered 1, 2, … until `write` knows the stored counter."""

    __slots__ = ("artifacts", "deliveries", "events", "steps")

    def __init__(self, job: Job, events: list[Event], bodies: WebhookBodies | None) -> None:
        self.steps = rec.step_records(VALUES, job)
        self.events = [rec.event_record(VALUES, e) for e in events]
        self.artifacts = [rec.artifact_record(VALUES, a) for a in job.new_artifacts]
        self.deliveries = [rec.delivery_record(VALUES, d) for d in messages(job, bodies, new_id)]

    def write(self, conn: sqlite3.Connection, *, base: int) -> None:
        conn.executemany(_UPSERT_STEP, self.steps)
        if self.events:
            for record in self.events:
                record["seq"] += base
            conn.executemany(_INSERT_EVENT, self.events)
        if self.artifacts:
            conn.executemany(_UPSERT_ARTIFACT, self.artifacts)
        if self.deliveries:
            conn.executemany(_INSERT_DELIVERY, self.deliveries)


def _load(conn: sqlite3.Connection, job_id: str) -> Job | None:
    # One statement, so job and steps come from one snapshot even while another process writes.
    rows = fetch_rows(conn, _GET, (job_id,))
    return rec.job_from_rows(VALUES, rows) if rows else None
