"""What both SQL webhook outboxes share: the values an attempt writes and the read of the next
due time (the partial index `webhook_deliveries_due`, migration 0006)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dreamforge_adapters.sql import records as rec
from dreamforge_adapters.sql.dialect import Dialect, SqlStore
from dreamforge_core.domain.events import Event
from dreamforge_core.ports.webhooks import AttemptRecord

_NEXT_DUE = "SELECT min(next_attempt_at) AS due FROM webhook_deliveries WHERE state = 'pending'"
#: `state`, `attempts`, `next_attempt_at` and `last_status` of the message with `id`
UPDATE_DELIVERY = (
    "UPDATE webhook_deliveries SET state = {state}, attempts = {attempts}, "
    "next_attempt_at = {next_attempt_at}, last_status = {last_status} WHERE id = {id}"
)


def attempt_values(dialect: Dialect, attempt: AttemptRecord) -> dict[str, Any]:
    """The message's new columns, and the log line's (numbered 0 until the store numbers it)."""
    d = attempt.delivery
    if attempt.retry_at is not None:
        state = rec.PENDING
    else:
        state = rec.DELIVERED if attempt.delivered else rec.GIVEN_UP
    line = rec.event_record(dialect.values, Event.stored(d.job_id, 0, attempt.event))
    return line | {
        "id": d.id,
        "state": state,
        "attempts": d.attempts + 1,
        "next_attempt_at": dialect.values.time_out(attempt.retry_at),
        "last_status": attempt.event.data.get("status_code"),
    }


def next_due(store: SqlStore, dialect: Dialect) -> datetime | None:
    rows = store.fetch(_NEXT_DUE, {})
    return dialect.values.time(rows[0]["due"]) if rows else None


def update_delivery(dialect: Dialect) -> str:
    p = dialect.param
    return UPDATE_DELIVERY.format(
        state=p("state"), attempts=p("attempts"), next_attempt_at=p("next_attempt_at"),
        last_status=p("last_status"), id=p("id"),
    )  # fmt: skip
