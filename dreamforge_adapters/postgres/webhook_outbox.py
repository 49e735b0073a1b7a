"""The webhook outbox in PostgreSQL: claims skip messages another deliverer holds, and an
attempt, its log line and (in the stack) the line's NOTIFY are one statement."""

from __future__ import annotations

from datetime import datetime

from dreamforge_adapters.postgres import codec, event_bus
from dreamforge_adapters.postgres.codec import COLUMNS, DIALECT
from dreamforge_adapters.postgres.database import PostgresDatabase
from dreamforge_adapters.sql import records as rec
from dreamforge_adapters.sql import webhook_outbox as shared
from dreamforge_adapters.sql.records import columns
from dreamforge_core.domain.events import Event
from dreamforge_core.domain.webhooks import Delivery
from dreamforge_core.ports.webhooks import AttemptRecord, WebhookOutbox

# A claim moves the message's due time past the attempt: until then no deliverer sees it.
_CLAIM = f"""
UPDATE webhook_deliveries SET next_attempt_at = %(lease_until)s
WHERE id IN (
    SELECT id FROM webhook_deliveries
    WHERE state = 'pending' AND next_attempt_at <= %(now)s
    ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
RETURNING {columns(rec.DELIVERY_COLUMNS)}"""
# The log line takes the next number of the job's counter; a save in flight waits for the row.
_RECORD = f"""
WITH d AS (
    {shared.update_delivery(DIALECT)} RETURNING job_id
), j AS (
    UPDATE jobs SET last_seq = last_seq + 1 WHERE id = (SELECT job_id FROM d)
    RETURNING id, last_seq
), e AS (
    INSERT INTO events ({columns(rec.EVENT_COLUMNS)}, schema_version)
    SELECT j.id, j.last_seq, %(ts)s, %(kind)s, %(level)s, %(code)s, %(message)s, %(step_id)s,
           %(item_index)s, %(data)s::jsonb, {rec.ROW_SCHEMA_VERSION}
    FROM j
)"""
_ANNOUNCE = f"""
, n AS (
    SELECT pg_notify('{event_bus.CHANNEL}',
                     jsonb_set(%(doc)s::jsonb, '{{seq}}', to_jsonb(j.last_seq))::text)
    FROM j
)"""
# A CTE that only reads runs when the result names it.
_RESULT = "\nSELECT (SELECT last_seq FROM j)"
_ANNOUNCED_RESULT = "\nSELECT (SELECT last_seq FROM j), (SELECT count(*) FROM n)"


class PostgresWebhookOutbox(WebhookOutbox):
    """With `announce`, each attempt's log line goes out on the event bus's channel in the
    attempt's own transaction, as the stack's job repository announces its events."""

    def __init__(self, database: PostgresDatabase, *, announce: bool = False) -> None:
        self.database = database
        self._record = _RECORD + (_ANNOUNCE + _ANNOUNCED_RESULT if announce else _RESULT)

    def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        params = {"now": now, "lease_until": lease_until, "limit": limit}
        rows = self.database.fetch(_CLAIM, params)
        return sorted((rec.delivery_from_row(COLUMNS, r) for r in rows), key=_created)

    def record(self, attempt: AttemptRecord) -> list[Event]:
        values = shared.attempt_values(DIALECT, attempt)
        draft = Event.stored(attempt.delivery.job_id, 0, attempt.event)
        values["doc"] = codec.dumps(rec.event_record(codec.IN_JSON, draft))
        with self.database.connection() as conn:
            row = conn.execute(self._record, values).fetchone()
        if row is None or row[0] is None:
            return []  # the job is gone: nobody reads its log
        return [Event.stored(draft.job_id, int(row[0]), attempt.event)]

    def next_due(self) -> datetime | None:
        return shared.next_due(self.database, DIALECT)


def _created(delivery: Delivery) -> datetime:
    return delivery.created_at
