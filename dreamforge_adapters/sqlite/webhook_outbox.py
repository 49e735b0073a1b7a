"""The webhook outbox in SQLite: one process writes the file, so a claim and an attempt are
each one transaction under its write lock."""

from __future__ import annotations

from datetime import datetime

from dreamforge_adapters.sql import records as rec
from dreamforge_adapters.sql import webhook_outbox as shared
from dreamforge_adapters.sql.records import columns
from dreamforge_adapters.sqlite.codec import DIALECT, VALUES, params
from dreamforge_adapters.sqlite.database import SqliteDatabase, fetch_rows
from dreamforge_core.domain.events import Event
from dreamforge_core.domain.webhooks import Delivery
from dreamforge_core.ports.webhooks import AttemptRecord, WebhookOutbox

_DUE = (
    f"SELECT {columns(rec.DELIVERY_COLUMNS)} FROM webhook_deliveries "
    "WHERE state = 'pending' AND next_attempt_at <= :now ORDER BY next_attempt_at LIMIT :limit"
)
_LEASE = "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?"
_UPDATE = shared.update_delivery(DIALECT) + " RETURNING job_id"
_COUNT_LINE = "UPDATE jobs SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq"
_INSERT_LINE = (
    f"INSERT INTO events ({columns(rec.EVENT_COLUMNS)}, schema_version) "
    f"VALUES ({params(rec.EVENT_COLUMNS)}, {rec.ROW_SCHEMA_VERSION})"
)


class SqliteWebhookOutbox(WebhookOutbox):
    def __init__(self, database: SqliteDatabase) -> None:
        self.database = database

    def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        with self.database.write() as conn:
            rows = fetch_rows(conn, _DUE, {"now": VALUES.time_out(now), "limit": limit})
            lease = VALUES.time_out(lease_until)
            conn.executemany(_LEASE, [(lease, r["id"]) for r in rows])
        return [rec.delivery_from_row(VALUES, r) for r in rows]

    def record(self, attempt: AttemptRecord) -> list[Event]:
        values = shared.attempt_values(DIALECT, attempt)
        with self.database.write() as conn:
            updated = conn.execute(_UPDATE, values).fetchall()
            if not updated:
                return []
            counted = conn.execute(_COUNT_LINE, (updated[0][0],)).fetchall()
            if not counted:
                return []  # the job is gone: nobody reads its log
            values["seq"] = int(counted[0][0])
            conn.execute(_INSERT_LINE, values)
        return [Event.stored(attempt.delivery.job_id, values["seq"], attempt.event)]

    def next_due(self) -> datetime | None:
        return shared.next_due(self.database, DIALECT)
