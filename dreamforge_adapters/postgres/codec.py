"""Jobs, steps, events and artifacts to statement parameters and back.

A job's steps, events and artifacts travel as one JSON array each, unpacked on the server by
`jsonb_to_recordset`, so `create` and `save` are one fixed statement whatever the batch size:
one round trip, prepared once per connection. Timestamps go as `datetime` (timestamptz) in
columns and as the core's ISO text inside JSON; the session time zone is UTC, so every
timestamp comes back as an aware UTC datetime equal to the one stored.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from dreamforge_core.domain.artifact import Artifact
from dreamforge_core.domain.clock import iso
from dreamforge_core.domain.events import Event, EventKind
from dreamforge_core.domain.job import (
    ErrorInfo,
    Item,
    ItemState,
    Job,
    JobState,
    Step,
    params_from_dict,
)

ROW_SCHEMA_VERSION = 1  # rows without a domain schema_version (steps, events, artifacts)
NOTIFY_LIMIT = 8000  # bytes; Postgres refuses a NOTIFY payload this long or longer

# Compact, and an odd value in free-form event data becomes its text instead of failing a save.
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
_job_states = {s.value: s for s in JobState}
_item_states = {s.value: s for s in ItemState}
_event_kinds = {k.value: k for k in EventKind}


def dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _error(info: ErrorInfo | None) -> str | None:
    return None if info is None else dumps(info.to_dict())


def _error_info(data: dict[str, str] | None) -> ErrorInfo | None:
    return None if data is None else ErrorInfo(data["code"], data["message"])


# --- jobs -------------------------------------------------------------------------------------

JOB_COLUMNS = (
    "id, type, provider, model_id, user_id, state, params, count, attempts, error, "
    "idempotency_key, fingerprint, created_at, updated_at, started_at, finished_at, "
    "next_attempt_at, last_seq, version, schema_version, lease_owner, lease_expires_at, "
    "checkpoint_hash, key_fingerprint"
)
JOB_VALUES = (
    "%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
    "%s, %s, %s, %s, %s"
)
JOB_WIDTH = 24


def job_row(job: Job, *, last_seq: int, version: int) -> tuple[Any, ...]:
    return (
        job.id, job.type, job.provider, job.model_id, job.user, job.state.value,
        dumps(job.params.to_dict()), job.count, job.attempts, _error(job.error),
        job.idempotency_key, job.fingerprint, job.created_at, job.updated_at, job.started_at,
        job.finished_at, job.next_attempt_at, last_seq, version, job.schema_version,
        job.lease_owner, job.lease_expires_at, job.checkpoint_hash, job.key_fingerprint,
    )  # fmt: skip


def job_changes(job: Job, *, last_seq: int) -> tuple[Any, ...]:
    """The columns `save` writes (the lifecycle, the model a download installed and the
    checkpoint an attempt loaded), then the id and the version the caller read."""
    return (
        job.state.value, job.attempts, _error(job.error), job.updated_at, job.started_at,
        job.finished_at, job.next_attempt_at, last_seq, job.lease_owner, job.lease_expires_at,
        job.model_id, job.checkpoint_hash, job.id, job.version,
    )  # fmt: skip


def job_from_row(row: tuple[Any, ...], steps: list[Step]) -> Job:
    return Job(
        id=row[0], type=row[1], provider=row[2], model_id=row[3], user=row[4],
        state=_job_states[row[5]], params=params_from_dict(row[1], row[6]), attempts=row[8],
        error=_error_info(row[9]), idempotency_key=row[10], fingerprint=row[11],
        created_at=row[12], updated_at=row[13], started_at=row[14], finished_at=row[15],
        next_attempt_at=row[16], last_seq=row[17], version=row[18], schema_version=row[19],
        lease_owner=row[20], lease_expires_at=row[21], checkpoint_hash=row[22],
        key_fingerprint=row[23], steps=steps,
    )  # fmt: skip


# --- steps, events, artifacts as JSON arrays --------------------------------------------------


def steps_json(job: Job) -> str:
    return dumps([_step(position, step) for position, step in enumerate(job.steps)])


def _step(position: int, step: Step) -> dict[str, Any]:
    return {
        "id": step.id, "position": position, "name": step.name, "state": step.state.value,
        "attempts": step.attempts,
        "last_error": step.last_error.to_dict() if step.last_error else None,
        "started_at": iso(step.started_at), "finished_at": iso(step.finished_at),
        "items": [_item(i) for i in step.items],
    }  # fmt: skip


def _item(item: Item) -> dict[str, Any]:
    return {
        "index": item.index,
        "state": item.state.value,
        "seed": item.seed,
        "stages": item.stages,
        "started_at": iso(item.started_at),
        "finished_at": iso(item.finished_at),
    }


STEP_READ_COLUMNS = "id, name, state, attempts, last_error, started_at, finished_at, items"


def step_from_row(row: tuple[Any, ...]) -> Step:
    return Step(
        id=row[0], name=row[1], state=_job_states[row[2]], attempts=row[3],
        last_error=_error_info(row[4]), started_at=row[5], finished_at=row[6],
        items=[
            Item(index=i["index"], state=_item_states[i["state"]], seed=i["seed"],
                 stages=i["stages"], started_at=dt(i["started_at"]),
                 finished_at=dt(i["finished_at"]))
            for i in row[7]
        ],
    )  # fmt: skip


def event_dict(e: Event) -> dict[str, Any]:
    return {
        "job_id": e.job_id, "seq": e.seq, "ts": iso(e.ts), "kind": e.kind.value,
        "level": e.level, "code": e.code, "message": e.message, "step_id": e.step_id,
        "item_index": e.item_index, "data": e.data,
    }  # fmt: skip


def events_json(events: list[Event]) -> str:
    return dumps([event_dict(e) for e in events])


EVENT_COLUMNS = "job_id, seq, ts, kind, level, code, message, step_id, item_index, data"


def event_from_row(row: tuple[Any, ...]) -> Event:
    return Event(
        job_id=row[0], seq=row[1], ts=row[2], kind=_event_kinds[row[3]], level=row[4],
        code=row[5], message=row[6], step_id=row[7], item_index=row[8], data=row[9],
    )  # fmt: skip


def event_from_dict(d: dict[str, Any]) -> Event:
    return Event(
        job_id=d["job_id"], seq=d["seq"], ts=datetime.fromisoformat(d["ts"]),
        kind=_event_kinds[d["kind"]], level=d["level"], code=d["code"], message=d["message"],
        step_id=d["step_id"], item_index=d["item_index"], data=d["data"],
    )  # fmt: skip


def artifacts_json(artifacts: list[Artifact]) -> str:
    # One row per item, the last one winning, as a sequence of single upserts would leave it
    # (one statement cannot upsert the same row twice).
    latest = {(a.job_id, a.step, a.item_index): a for a in artifacts}
    return dumps([_artifact(a) for a in latest.values()])


def _artifact(a: Artifact) -> dict[str, Any]:
    return {
        "id": a.id, "job_id": a.job_id, "step": a.step, "item_index": a.item_index,
        "key": a.key, "content_type": a.content_type, "format": a.format, "width": a.width,
        "height": a.height, "seed": a.seed, "size_bytes": a.size_bytes, "sha256": a.sha256,
        "created_at": iso(a.created_at), "checkpoint_hash": a.checkpoint_hash,
    }  # fmt: skip


ARTIFACT_COLUMNS = (
    "id, job_id, step, item_index, key, content_type, format, width, height, seed, size_bytes, "
    "sha256, created_at, checkpoint_hash"
)


def artifact_from_row(row: tuple[Any, ...]) -> Artifact:
    return Artifact(
        id=row[0], job_id=row[1], step=row[2], item_index=row[3], key=row[4],
        content_type=row[5], format=row[6], width=row[7], height=row[8], seed=row[9],
        size_bytes=row[10], sha256=row[11], created_at=row[12], checkpoint_hash=row[13],
    )  # fmt: skip


# --- NOTIFY payloads --------------------------------------------------------------------------


def notify_payload(e: Event) -> str:
    """The event as JSON, or a stub naming it when the JSON is too long for a NOTIFY."""
    text = dumps(event_dict(e))
    if len(text) * 4 < NOTIFY_LIMIT or len(text.encode()) < NOTIFY_LIMIT:
        return text
    return dumps({"job_id": e.job_id, "seq": e.seq, "stub": True})
