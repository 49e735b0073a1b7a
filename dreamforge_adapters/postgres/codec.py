"""How Postgres holds the shared records.

In statement parameters, JSON goes as text cast to jsonb and timestamps as `datetime`
(timestamptz); rows come back decoded. A job's steps, events and artifacts travel as one JSON
array each, unpacked on the server by `jsonb_to_recordset`, so `create` and `save` are one
fixed statement whatever the batch size; inside those documents timestamps are the core's ISO
text. The session time zone is UTC, so every timestamp comes back as an aware UTC datetime
equal to the one stored.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from dreamforge_adapters.sql import records as rec
from dreamforge_adapters.sql.dialect import Dialect, Values, same
from dreamforge_core.domain.artifact import Artifact
from dreamforge_core.domain.clock import iso
from dreamforge_core.domain.events import Event
from dreamforge_core.domain.job import Job
from dreamforge_core.domain.webhooks import Delivery

NOTIFY_LIMIT = 8000  # bytes; Postgres refuses a NOTIFY payload this long or longer

# Compact, and an odd value in free-form event data becomes its text instead of failing a save.
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode

COLUMNS = Values(json_out=dumps, json_in=same, time_out=same, time_in=same)
IN_JSON = Values(json_out=same, json_in=same, time_out=iso, time_in=datetime.fromisoformat)


def param(column: str) -> str:
    return f"%({column})s"


def json_param(column: str) -> str:
    return f"%({column})s::jsonb"


# Ordered by code point, as the other stores sort ids, whatever the database's collation.
DIALECT = Dialect(
    values=COLUMNS,
    param=param,
    json_param=json_param,
    text_order=' COLLATE "C"',
    text_holds_nul=False,  # Postgres text cannot hold NUL, so no stored id has one
)


def steps_json(job: Job) -> str:
    return dumps(rec.step_records(IN_JSON, job))


def events_json(events: list[Event]) -> str:
    return dumps([rec.event_record(IN_JSON, e) for e in events])


def event_from_dict(d: dict[str, Any]) -> Event:
    return rec.event_from_row(IN_JSON, d)


def artifacts_json(artifacts: list[Artifact]) -> str:
    # One row per item, the last one winning, as a sequence of single upserts would leave it
    # (one statement cannot upsert the same row twice).
    latest = {(a.job_id, a.step, a.item_index): a for a in artifacts}
    return dumps([rec.artifact_record(IN_JSON, a) for a in latest.values()])


def deliveries_json(deliveries: list[Delivery]) -> str:
    return dumps([rec.delivery_record(IN_JSON, d) for d in deliveries])


def notify_payload(e: Event) -> str:
    """The event as JSON, or a stub naming it when the JSON is too long for a NOTIFY."""
    text = dumps(rec.event_record(IN_JSON, e))
    if len(text) * 4 < NOTIFY_LIMIT or len(text.encode()) < NOTIFY_LIMIT:
        return text
    return dumps({"job_id": e.job_id, "seq": e.seq, "stub": True})
