"""JobRepo on PostgreSQL: `create` and `save` are each one statement, hence one transaction
and one round trip, so jobs, steps, events and artifacts never disagree.

The statements chain data-modifying CTEs off the job row: steps, events and artifacts are
written only if the job row was inserted (create) or updated at the version the caller read
(save). An idempotency key is settled by the unique index on (API key fingerprint, key) (`ON
CONFLICT DO NOTHING`), never by a read before the insert, so concurrent creates from any
number of processes make one job per API key.

As in the SQLite repo, the job object changes (version, last_seq, pending lists) only after
the commit: a failed write leaves it as it was, ready to be saved again.

It is one module because its statements write one aggregate: the job, its steps, events and
artifacts change together, and the statements that read them back must agree with them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg

from dreamforge_adapters.postgres import codec, event_bus
from dreamforge_adapters.postgres.codec import COLUMNS, DIALECT, json_param, param
from dreamforge_adapters.postgres.database import PostgresDatabase, fetch_rows
from dreamforge_adapters.sql import records as rec
from dreamforge_adapters.sql.jobs import JobCounts, events_to_store, mark_stored, numbered
from dreamforge_adapters.sql.records import columns
from dreamforge_core.domain.artifact import Artifact
from dreamforge_core.domain.clock import new_id
from dreamforge_core.domain.events import Event
from dreamforge_core.domain.job import Job, JobState
from dreamforge_core.errors import ConcurrentUpdate, DreamForgeError, NotFound, Unavailable
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.webhooks import WebhookBodies, messages

_V = rec.ROW_SCHEMA_VERSION
_JOB_VALUES = ", ".join(
    json_param(c) if c in rec.JOB_JSON_COLUMNS else param(c) for c in rec.JOB_COLUMNS
)
_JOB_CHANGES = ", ".join(
    f"{c} = {json_param(c) if c in rec.JOB_JSON_COLUMNS else param(c)}"
    for c in rec.JOB_CHANGED_COLUMNS
)
_CHILD_ROWS = f"""
ev AS MATERIALIZED (
    SELECT jsonb_agg(jsonb_set(x.doc, '{{seq}}', to_jsonb(j.base + (x.doc->>'seq')::integer))
                     ORDER BY x.position) AS doc
    FROM j, jsonb_array_elements(%(events)s::jsonb) WITH ORDINALITY AS x(doc, position)
), s AS (
    INSERT INTO steps (id, job_id, position, name, state, attempts, last_error, started_at,
                       finished_at, items, schema_version)
    SELECT x.id, j.id, x.position, x.name, x.state, x.attempts, x.last_error, x.started_at,
           x.finished_at, x.items, {_V}
    FROM j, jsonb_to_recordset(%(steps)s::jsonb) AS x(id text, position integer, name text,
        state text, attempts integer, last_error jsonb, started_at timestamptz,
        finished_at timestamptz, items jsonb)
    ON CONFLICT (id) DO UPDATE SET position = excluded.position, name = excluded.name,
        state = excluded.state, attempts = excluded.attempts, last_error = excluded.last_error,
        started_at = excluded.started_at, finished_at = excluded.finished_at,
        items = excluded.items
), e AS (
    INSERT INTO events ({columns(rec.EVENT_COLUMNS)}, schema_version)
    SELECT j.id, x.seq, x.ts, x.kind, x.level, x.code, x.message, x.step_id, x.item_index,
           x.data, {_V}
    FROM j, ev, jsonb_to_recordset(ev.doc) AS x(seq integer, ts timestamptz, kind text,
        level text, code text, message text, step_id text, item_index integer, data jsonb)
), a AS (
    INSERT INTO artifacts ({columns(rec.ARTIFACT_COLUMNS)}, schema_version)
    SELECT x.*, {_V}
    FROM j, jsonb_to_recordset(%(artifacts)s::jsonb) AS x(id text, job_id text, step text,
        item_index integer, key text, content_type text, format text, width integer,
        height integer, seed bigint, size_bytes bigint, sha256 text, created_at timestamptz,
        checkpoint_hash text)
    ON CONFLICT (job_id, step, item_index) DO UPDATE SET id = excluded.id, key = excluded.key,
        content_type = excluded.content_type, format = excluded.format, width = excluded.width,
        height = excluded.height, seed = excluded.seed, size_bytes = excluded.size_bytes,
        sha256 = excluded.sha256, created_at = excluded.created_at,
        checkpoint_hash = excluded.checkpoint_hash
), w AS (
    INSERT INTO webhook_deliveries ({columns(rec.DELIVERY_COLUMNS)})
    SELECT x.* FROM j, jsonb_to_recordset(%(webhooks)s::jsonb) AS x(id text, job_id text,
        url text, type text, body text, state text, attempts integer, created_at timestamptz,
        next_attempt_at timestamptz)
)"""
# The events go out as NOTIFYs in the same transaction: sent only if it commits, in seq
# order (volatile functions run after the sort), and with no round trip of their own. A
# payload too long for NOTIFY becomes a stub the listener resolves from the events table.
_ANNOUNCE = f"""
, n AS (
    SELECT pg_notify('{event_bus.CHANNEL}', CASE
        WHEN octet_length(x.doc::text) < {codec.NOTIFY_LIMIT} THEN x.doc::text
        ELSE jsonb_build_object('job_id', x.doc->'job_id', 'seq', x.doc->'seq',
                                'stub', true)::text END)
    FROM j, ev, jsonb_array_elements(ev.doc) WITH ORDINALITY AS x(doc, position)
    ORDER BY x.position
)"""
# The counter the events were numbered after; no row (NULL) when the job row was not written.
_SILENT_RESULT = "\nSELECT (SELECT base FROM j)"
_ANNOUNCED_RESULT = "\nSELECT (SELECT base FROM j), (SELECT count(*) FROM n)"
_CREATE_JOB = f"""
WITH j AS (
    INSERT INTO jobs ({columns(rec.JOB_COLUMNS)}) VALUES ({_JOB_VALUES})
    ON CONFLICT (key_fingerprint, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, 0 AS base
), {_CHILD_ROWS}"""
_SAVE_JOB = f"""
WITH j AS (
    UPDATE jobs SET {_JOB_CHANGES}, last_seq = last_seq + %(new_events)s, version = version + 1
    WHERE id = %(id)s AND version = %(version)s
    RETURNING id, last_seq - %(new_events)s AS base
), {_CHILD_ROWS}"""


def _statement(head: str, announce: bool) -> str:
    return head + (_ANNOUNCE + _ANNOUNCED_RESULT if announce else _SILENT_RESULT)


_GET = f"{rec.JOB_WITH_STEPS} WHERE j.id = %s ORDER BY s.position"
_GET_BY_KEY = (
    f"{rec.JOB_WITH_STEPS} WHERE j.key_fingerprint = %s AND j.idempotency_key = %s "
    "AND j.created_at >= %s ORDER BY s.position"
)
# Locks the holder's row: a racing create that wants to release the key waits for this one.
_HOLDER = (
    "SELECT id, created_at >= %s FROM jobs "
    "WHERE key_fingerprint = %s AND idempotency_key = %s FOR UPDATE"
)
_RELEASE_KEY = "UPDATE jobs SET idempotency_key = NULL WHERE id = %s"
_EXISTS = "SELECT 1 FROM jobs WHERE id = %s"
_BIGINT_MAX = 2**63 - 1


def _bigint(n: int) -> int:
    """A count or sequence number from a client can exceed bigint; past it they all mean
    "everything" or "nothing after", so the largest bigint says the same."""
    return min(n, _BIGINT_MAX)


_SINCE = "ts >= coalesce(%s, '-infinity'::timestamptz)"
_EVENTS = (
    f"SELECT {columns(rec.EVENT_COLUMNS)} FROM events WHERE job_id = %s AND seq > %s AND {_SINCE} "
    "ORDER BY seq LIMIT %s"
)
_LAST_EVENTS = (
    f"SELECT {columns(rec.EVENT_COLUMNS)} FROM events WHERE job_id = %s AND {_SINCE} "
    "ORDER BY seq DESC LIMIT %s"
)
_ARTIFACTS = (
    f"SELECT {columns(rec.ARTIFACT_COLUMNS)} FROM artifacts WHERE job_id = %s "
    'ORDER BY step COLLATE "C", item_index'
)
_IDS_IN = 'SELECT id FROM jobs WHERE state = ANY(%s::text[]) ORDER BY id COLLATE "C"'
_KEY_ATTEMPTS = 10  # each retry means another process released or took the key meanwhile


class PostgresJobRepo(JobCounts[PostgresDatabase], JobRepo):
    """Jobs in PostgreSQL, through the process's shared `PostgresDatabase`.

    With `announce`, every save also NOTIFYs the events it stores on the event bus's channel,
    inside its own transaction; pair it with a `PostgresEventBus(announced_by_repo=True)`,
    whose `publish` then has nothing left to do. `messages_stored` is called once a write
    that stored webhook messages has committed. `webhook_bodies` writes the body of each
    webhook message a change causes; it is stored in the same statement.
    """

    dialect = DIALECT

    def __init__(
        self,
        database: PostgresDatabase,
        *,
        announce: bool = False,
        webhook_bodies: WebhookBodies | None = None,
        messages_stored: Callable[[], None] | None = None,
    ) -> None:
        self.database = database
        self.announce = announce
        self.webhook_bodies = webhook_bodies
        self.messages_stored = messages_stored
        # A new job has no followers yet (a stream starts from stored events): nothing to say.
        self._create = _statement(_CREATE_JOB, announce=False)
        self._save = _statement(_SAVE_JOB, announce)

    def create(self, job: Job, idempotency_since: datetime) -> tuple[Job, bool]:
        """Insert-or-return-existing, decided by the unique index on the idempotency key.

        Returns the caller's job itself when it was created now (no deep copy on this path).
        """
        events = events_to_store(job)
        row = rec.job_record(
            COLUMNS, job, last_seq=job.last_seq + len(events), version=job.version + 1
        )
        params = row | self._child_params(job, events)
        with self.database.connection() as conn:
            holder = _insert_or_find(
                conn, self._create, params, job.key_fingerprint, job.idempotency_key,
                idempotency_since,
            )  # fmt: skip
        if holder is not None:
            return holder, False
        mark_stored(job, len(events))
        self._tell(params)
        return job, True

    def get(self, job_id: str) -> Job | None:
        if "\x00" in job_id:  # Postgres text cannot hold NUL, so no stored id has one
            return None
        with self.database.connection() as conn:
            return _load(conn, _GET, (job_id,))

    def save(self, job: Job) -> list[Event]:
        events = events_to_store(job)
        changes = rec.job_changes(COLUMNS, job, new_events=len(events))
        params = changes | self._child_params(job, events)
        with self.database.connection() as conn:
            base = _base(conn.execute(self._save, params))
            if base is None:
                if conn.execute(_EXISTS, (job.id,)).fetchone() is None:
                    raise NotFound(f"no job with id {job.id!r}", job_id=job.id)
                raise ConcurrentUpdate(f"job {job.id} changed since it was read", job_id=job.id)
        mark_stored(job, base + len(events))
        self._tell(params)
        return numbered(events, base)

    def events(
        self,
        job_id: str,
        *,
        after_seq: int = 0,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        bounds = (job_id, _bigint(after_seq), since, None if limit is None else _bigint(limit))
        with self.database.connection() as conn:
            rows = fetch_rows(conn, _EVENTS, bounds)
        return [rec.event_from_row(COLUMNS, r) for r in rows]

    def last_events(self, job_id: str, n: int, *, since: datetime | None = None) -> list[Event]:
        if n <= 0:
            return []
        with self.database.connection() as conn:
            rows = fetch_rows(conn, _LAST_EVENTS, (job_id, since, _bigint(n)))
        return [rec.event_from_row(COLUMNS, r) for r in reversed(rows)]

    def artifacts(self, job_id: str) -> list[Artifact]:
        with self.database.connection() as conn:
            rows = fetch_rows(conn, _ARTIFACTS, (job_id,))
        return [rec.artifact_from_row(COLUMNS, r) for r in rows]

    def job_ids_in(self, states: Sequence[JobState]) -> list[str]:
        values = sorted({JobState(s).value for s in states})
        if not values:
            return []
        with self.database.connection() as conn:
            return [r[0] for r in conn.execute(_IDS_IN, (values,))]

    def ping(self) -> None:
        self.database.ping()

    def _tell(self, params: dict[str, Any]) -> None:
        if params["webhooks"] != "[]" and self.messages_stored is not None:
            self.messages_stored()

    def _child_params(self, job: Job, events: list[Event]) -> dict[str, str]:
        return {
            "events": codec.events_json(events),
            "steps": codec.steps_json(job),
            "artifacts": codec.artifacts_json(job.new_artifacts),
            "webhooks": codec.deliveries_json(messages(job, self.webhook_bodies, new_id)),
        }


def _base(cursor: psycopg.Cursor[Any]) -> int | None:
    """The result of a create or save: None when the job row was not written."""
    row = cursor.fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _insert_or_find(
    conn: psycopg.Connection[Any],
    insert: str,
    params: dict[str, Any],
    scope: str,
    key: str | None,
    since: datetime,
) -> Job | None:
    """None when the job was inserted, else the job holding its key (within the API key's
    `scope`) within the window."""
    for _ in range(_KEY_ATTEMPTS):
        if _base(conn.execute(insert, params)) is not None:
            return None
        if key is None:  # the id itself conflicting raises; nothing else can refuse the row
            raise DreamForgeError("the database refused a new job without saying why")
        if (existing := _load(conn, _GET_BY_KEY, (scope, key, since))) is not None:
            return existing  # the usual replay: the holder is within the window
        with conn.transaction():
            holder = conn.execute(_HOLDER, (since, scope, key)).fetchone()
            if holder is None:
                continue  # released since the insert looked: try again
            holder_id, fresh = holder
            if fresh and (existing := _load(conn, _GET, (holder_id,))) is not None:
                return existing
            conn.execute(_RELEASE_KEY, (holder_id,))  # used before the window: free
            if _base(conn.execute(insert, params)) is not None:
                return None
    raise Unavailable(f"idempotency key {key!r} kept changing hands; try again")


def _load(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...]) -> Job | None:
    # One statement, so job and steps come from one snapshot even while another process writes.
    rows = fetch_rows(conn, query, params)
    return rec.job_from_rows(COLUMNS, rows) if rows else None
