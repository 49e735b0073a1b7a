"""Jobs, steps, events and artifacts to rows and back.

Rows are plain tuples in the column order of the statements in `job_repo`, which keeps every
statement fixed (prepared once, cached by sqlite3). JSON goes through msgspec, about ten times
faster than the json module on these small documents; timestamps use the core's fixed-width ISO
form so the text columns sort as times.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

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


def _fallback(value: Any) -> Any:
    """An odd value in free-form event data is stored as its text rather than failing a save."""
    return str(value)


_encoder = msgspec.json.Encoder(enc_hook=_fallback)
_decoder = msgspec.json.Decoder()
_job_states = {s.value: s for s in JobState}
_item_states = {s.value: s for s in ItemState}
_event_kinds = {k.value: k for k in EventKind}


def dumps(value: Any) -> str:
    return _encoder.encode(value).decode()


def loads(text: str) -> Any:
    return _decoder.decode(text)


def dt(text: str | None) -> datetime | None:
    # Since 3.11 fromisoformat reads the trailing "Z" of iso(); it is the fast path of parse_iso.
    return None if text is None else datetime.fromisoformat(text)


def _error(info: ErrorInfo | None) -> str | None:
    return None if info is None else dumps(info.to_dict())


def _error_info(text: str | None) -> ErrorInfo | None:
    if text is None:
        return None
    data = loads(text)
    return ErrorInfo(data["code"], data["message"])


# --- jobs -------------------------------------------------------------------------------------

JOB_COLUMNS = (
    "id, type, provider, model_id, user_id, state, params, count, attempts, error, "
    "idempotency_key, fingerprint, created_at, updated_at, started_at, finished_at, "
    "next_attempt_at, last_seq, version, schema_version, lease_owner, lease_expires_at, "
    "checkpoint_hash, key_fingerprint"
)
JOB_WIDTH = 24


def job_row(job: Job, *, last_seq: int, version: int) -> tuple[Any, ...]:
    return (
        job.id, job.type, job.provider, job.model_id, job.user, job.state.value,
        dumps(job.params.to_dict()), job.count, job.attempts, _error(job.error),
        job.idempotency_key, job.fingerprint, iso(job.created_at), iso(job.updated_at),
        iso(job.started_at), iso(job.finished_at), iso(job.next_attempt_at), last_seq, version,
        job.schema_version, job.lease_owner, iso(job.lease_expires_at), job.checkpoint_hash,
        job.key_fingerprint,
    )  # fmt: skip


def job_changes(job: Job, *, last_seq: int) -> tuple[Any, ...]:
    """The columns `save` writes (the lifecycle, the model a download installed and the
    checkpoint an attempt loaded), then the id and the version the caller read."""
    return (
        job.state.value, job.attempts, _error(job.error), iso(job.updated_at),
        iso(job.started_at), iso(job.finished_at), iso(job.next_attempt_at), last_seq,
        job.lease_owner, iso(job.lease_expires_at), job.model_id, job.checkpoint_hash, job.id,
        job.version,
    )  # fmt: skip


def job_from_row(row: tuple[Any, ...], steps: list[Step]) -> Job:
    return Job(
        id=row[0], type=row[1], provider=row[2], model_id=row[3], user=row[4],
        state=_job_states[row[5]], params=params_from_dict(row[1], loads(row[6])),
        attempts=row[8], error=_error_info(row[9]), idempotency_key=row[10],
        fingerprint=row[11], created_at=datetime.fromisoformat(row[12]),
        updated_at=datetime.fromisoformat(row[13]), started_at=dt(row[14]),
        finished_at=dt(row[15]), next_attempt_at=dt(row[16]), last_seq=row[17],
        version=row[18], schema_version=row[19], lease_owner=row[20],
        lease_expires_at=dt(row[21]), checkpoint_hash=row[22], key_fingerprint=row[23],
        steps=steps,
    )  # fmt: skip


# --- steps ------------------------------------------------------------------------------------

STEP_COLUMNS = (
    "id, job_id, position, name, state, attempts, last_error, started_at, finished_at, items, "
    "schema_version"
)
STEP_READ_COLUMNS = "id, name, state, attempts, last_error, started_at, finished_at, items"


def step_rows(job: Job) -> list[tuple[Any, ...]]:
    return [
        (
            step.id,
            job.id,
            position,
            step.name,
            step.state.value,
            step.attempts,
            _error(step.last_error),
            iso(step.started_at),
            iso(step.finished_at),
            dumps([_item(i) for i in step.items]),
            ROW_SCHEMA_VERSION,
        )
        for position, step in enumerate(job.steps)
    ]


def _item(item: Item) -> dict[str, Any]:
    return {
        "index": item.index,
        "state": item.state.value,
        "seed": item.seed,
        "stages": item.stages,
        "started_at": iso(item.started_at),
        "finished_at": iso(item.finished_at),
    }


def step_from_row(row: tuple[Any, ...]) -> Step:
    return Step(
        id=row[0], name=row[1], state=_job_states[row[2]], attempts=row[3],
        last_error=_error_info(row[4]), started_at=dt(row[5]), finished_at=dt(row[6]),
        items=[
            Item(index=i["index"], state=_item_states[i["state"]], seed=i["seed"],
                 stages=i["stages"], started_at=dt(i["started_at"]),
                 finished_at=dt(i["finished_at"]))
            for i in loads(row[7])
        ],
    )  # fmt: skip


# --- events -----------------------------------------------------------------------------------

EVENT_COLUMNS = "job_id, seq, ts, kind, level, code, message, step_id, item_index, data"


def event_row(e: Event) -> tuple[Any, ...]:
    return (
        e.job_id, e.seq, iso(e.ts), e.kind.value, e.level, e.code, e.message, e.step_id,
        e.item_index, dumps(e.data), ROW_SCHEMA_VERSION,
    )  # fmt: skip


def event_from_row(row: tuple[Any, ...]) -> Event:
    return Event(
        job_id=row[0], seq=row[1], ts=datetime.fromisoformat(row[2]), kind=_event_kinds[row[3]],
        level=row[4], code=row[5], message=row[6], step_id=row[7], item_index=row[8],
        data=loads(row[9]),
    )  # fmt: skip


# --- artifacts --------------------------------------------------------------------------------

ARTIFACT_COLUMNS = (
    "id, job_id, step, item_index, key, content_type, format, width, height, seed, size_bytes, "
    "sha256, created_at, checkpoint_hash"
)


def artifact_row(a: Artifact) -> tuple[Any, ...]:
    return (
        a.id, a.job_id, a.step, a.item_index, a.key, a.content_type, a.format, a.width,
        a.height, a.seed, a.size_bytes, a.sha256, iso(a.created_at), a.checkpoint_hash,
        ROW_SCHEMA_VERSION,
    )  # fmt: skip


def artifact_from_row(row: tuple[Any, ...]) -> Artifact:
    return Artifact(
        id=row[0], job_id=row[1], step=row[2], item_index=row[3], key=row[4],
        content_type=row[5], format=row[6], width=row[7], height=row[8], seed=row[9],
        size_bytes=row[10], sha256=row[11], created_at=datetime.fromisoformat(row[12]),
        checkpoint_hash=row[13],
    )  # fmt: skip
