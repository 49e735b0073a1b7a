"""Jobs, steps, events and artifacts to records keyed by column name, and rows back.

A record is a dict from column name to the value its database wants (`Values` says how JSON
and times travel), so statements bind by name and no code depends on the order of a column
list. Reading goes by name too: a row is anything indexable by column name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dreamforge_adapters.sql.dialect import Row, Values
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
from dreamforge_core.domain.webhooks import Delivery, Webhook

ROW_SCHEMA_VERSION = 1  # rows without a domain schema_version (steps, events, artifacts)

JOB_COLUMNS = (
    "id", "type", "provider", "model_id", "user_id", "state", "params", "count", "attempts",
    "error", "idempotency_key", "fingerprint", "created_at", "updated_at", "started_at",
    "finished_at", "next_attempt_at", "last_seq", "version", "schema_version", "lease_owner",
    "lease_expires_at", "checkpoint_hash", "key_fingerprint", "priority", "webhook",
)  # fmt: skip
JOB_JSON_COLUMNS = frozenset({"params", "error", "webhook"})
# What `save` writes: the lifecycle, the model a download installed and the checkpoint an
# attempt loaded. The statement matches on "id" and the "version" the caller read, and moves
# `last_seq` on by the events it stores (the database numbers them: a webhook attempt's log
# line may have been added since the caller read the job).
JOB_CHANGED_COLUMNS = (
    "state", "attempts", "error", "updated_at", "started_at", "finished_at", "next_attempt_at",
    "lease_owner", "lease_expires_at", "model_id", "checkpoint_hash",
)  # fmt: skip
STEP_COLUMNS = (
    "id", "job_id", "position", "name", "state", "attempts", "last_error", "started_at",
    "finished_at", "items",
)  # fmt: skip
EVENT_COLUMNS = (
    "job_id", "seq", "ts", "kind", "level", "code", "message", "step_id", "item_index", "data",
)  # fmt: skip
ARTIFACT_COLUMNS = (
    "id", "job_id", "step", "item_index", "key", "content_type", "format", "width", "height",
    "seed", "size_bytes", "sha256", "created_at", "checkpoint_hash",
)  # fmt: skip
# A job is read with its steps in one statement; the step columns carry this prefix there.
STEP_PREFIX = "step_"
_STEP_READ = ("id", "name", "state", "attempts", "last_error", "started_at", "finished_at", "items")
JOB_WITH_STEPS = (
    f"SELECT {', '.join('j.' + c for c in JOB_COLUMNS)}, "
    f"{', '.join(f's.{c} AS {STEP_PREFIX}{c}' for c in _STEP_READ)} "
    "FROM jobs j LEFT JOIN steps s ON s.job_id = j.id"
)

_job_states = {s.value: s for s in JobState}
_item_states = {s.value: s for s in ItemState}
_event_kinds = {k.value: k for k in EventKind}


def columns(names: tuple[str, ...]) -> str:
    return ", ".join(names)


def _error(v: Values, info: ErrorInfo | None) -> Any:
    return None if info is None else v.json_out(info.to_dict())


def _error_info(v: Values, value: Any) -> ErrorInfo | None:
    if value is None:
        return None
    data = v.json_in(value)
    return ErrorInfo(data["code"], data["message"])


def _time(text: str | None) -> datetime | None:
    # Since 3.11 fromisoformat reads the trailing "Z" of iso(); it is the fast path of parse_iso.
    return None if text is None else datetime.fromisoformat(text)


# --- jobs -------------------------------------------------------------------------------------


def job_record(v: Values, job: Job, *, last_seq: int, version: int) -> dict[str, Any]:
    t = v.time_out
    return {
        "id": job.id, "type": job.type, "provider": job.provider, "model_id": job.model_id,
        "user_id": job.user, "state": job.state.value, "params": v.json_out(job.params.to_dict()),
        "count": job.count, "attempts": job.attempts, "error": _error(v, job.error),
        "idempotency_key": job.idempotency_key, "fingerprint": job.fingerprint,
        "created_at": t(job.created_at), "updated_at": t(job.updated_at),
        "started_at": t(job.started_at), "finished_at": t(job.finished_at),
        "next_attempt_at": t(job.next_attempt_at), "last_seq": last_seq, "version": version,
        "schema_version": job.schema_version, "lease_owner": job.lease_owner,
        "lease_expires_at": t(job.lease_expires_at), "checkpoint_hash": job.checkpoint_hash,
        "key_fingerprint": job.key_fingerprint, "priority": job.priority,
        "webhook": None if job.webhook is None else v.json_out(job.webhook.to_dict()),
    }  # fmt: skip


def job_changes(v: Values, job: Job, *, new_events: int) -> dict[str, Any]:
    """The JOB_CHANGED_COLUMNS, the id, the version the caller read and how many events the
    save stores."""
    t = v.time_out
    return {
        "state": job.state.value, "attempts": job.attempts, "error": _error(v, job.error),
        "updated_at": t(job.updated_at), "started_at": t(job.started_at),
        "finished_at": t(job.finished_at), "next_attempt_at": t(job.next_attempt_at),
        "lease_owner": job.lease_owner, "lease_expires_at": t(job.lease_expires_at),
        "model_id": job.model_id, "checkpoint_hash": job.checkpoint_hash, "id": job.id,
        "version": job.version, "new_events": new_events,
    }  # fmt: skip


def job_from_rows(v: Values, rows: Sequence[Row]) -> Job:
    """A job from the rows of JOB_WITH_STEPS, one per step (one with NULL steps if none)."""
    row = rows[0]
    steps = [step_from_row(v, r) for r in rows if r[STEP_PREFIX + "id"] is not None]
    return Job(
        id=row["id"], type=row["type"], provider=row["provider"], model_id=row["model_id"],
        user=row["user_id"], state=_job_states[row["state"]],
        params=params_from_dict(row["type"], v.json_in(row["params"])),
        attempts=row["attempts"], error=_error_info(v, row["error"]),
        idempotency_key=row["idempotency_key"], fingerprint=row["fingerprint"],
        created_at=v.time_in(row["created_at"]), updated_at=v.time_in(row["updated_at"]),
        started_at=v.time(row["started_at"]), finished_at=v.time(row["finished_at"]),
        next_attempt_at=v.time(row["next_attempt_at"]), last_seq=row["last_seq"],
        version=row["version"], schema_version=row["schema_version"],
        lease_owner=row["lease_owner"], lease_expires_at=v.time(row["lease_expires_at"]),
        checkpoint_hash=row["checkpoint_hash"], key_fingerprint=row["key_fingerprint"],
        priority=row["priority"], steps=steps,
        webhook=None if row["webhook"] is None else Webhook.from_dict(v.json_in(row["webhook"])),
    )  # fmt: skip


# --- steps and their items --------------------------------------------------------------------


def step_records(v: Values, job: Job) -> list[dict[str, Any]]:
    return [_step_record(v, job.id, position, step) for position, step in enumerate(job.steps)]


def _step_record(v: Values, job_id: str, position: int, step: Step) -> dict[str, Any]:
    t = v.time_out
    return {
        "id": step.id, "job_id": job_id, "position": position, "name": step.name,
        "state": step.state.value, "attempts": step.attempts,
        "last_error": _error(v, step.last_error), "started_at": t(step.started_at),
        "finished_at": t(step.finished_at),
        "items": v.json_out([_item_record(i) for i in step.items]),
    }  # fmt: skip


def _item_record(item: Item) -> dict[str, Any]:
    return {
        "index": item.index,
        "state": item.state.value,
        "seed": item.seed,
        "stages": item.stages,
        "started_at": iso(item.started_at),
        "finished_at": iso(item.finished_at),
    }


def step_from_row(v: Values, row: Row) -> Step:
    p = STEP_PREFIX
    return Step(
        id=row[p + "id"], name=row[p + "name"], state=_job_states[row[p + "state"]],
        attempts=row[p + "attempts"], last_error=_error_info(v, row[p + "last_error"]),
        started_at=v.time(row[p + "started_at"]), finished_at=v.time(row[p + "finished_at"]),
        items=[
            Item(index=i["index"], state=_item_states[i["state"]], seed=i["seed"],
                 stages=i["stages"], started_at=_time(i["started_at"]),
                 finished_at=_time(i["finished_at"]))
            for i in v.json_in(row[p + "items"])
        ],
    )  # fmt: skip


# --- events -----------------------------------------------------------------------------------


def event_record(v: Values, e: Event) -> dict[str, Any]:
    return {
        "job_id": e.job_id, "seq": e.seq, "ts": v.time_out(e.ts), "kind": e.kind.value,
        "level": e.level, "code": e.code, "message": e.message, "step_id": e.step_id,
        "item_index": e.item_index, "data": v.json_out(e.data),
    }  # fmt: skip


def event_from_row(v: Values, row: Row) -> Event:
    return Event(
        job_id=row["job_id"], seq=row["seq"], ts=v.time_in(row["ts"]),
        kind=_event_kinds[row["kind"]], level=row["level"], code=row["code"],
        message=row["message"], step_id=row["step_id"], item_index=row["item_index"],
        data=v.json_in(row["data"]),
    )  # fmt: skip


# --- artifacts --------------------------------------------------------------------------------


def artifact_record(v: Values, a: Artifact) -> dict[str, Any]:
    return {
        "id": a.id, "job_id": a.job_id, "step": a.step, "item_index": a.item_index,
        "key": a.key, "content_type": a.content_type, "format": a.format, "width": a.width,
        "height": a.height, "seed": a.seed, "size_bytes": a.size_bytes, "sha256": a.sha256,
        "created_at": v.time_out(a.created_at), "checkpoint_hash": a.checkpoint_hash,
    }  # fmt: skip


def artifact_from_row(v: Values, row: Row) -> Artifact:
    return Artifact(
        id=row["id"], job_id=row["job_id"], step=row["step"], item_index=row["item_index"],
        key=row["key"], content_type=row["content_type"], format=row["format"],
        width=row["width"], height=row["height"], seed=row["seed"],
        size_bytes=row["size_bytes"], sha256=row["sha256"],
        created_at=v.time_in(row["created_at"]), checkpoint_hash=row["checkpoint_hash"],
    )  # fmt: skip


# --- webhook messages -------------------------------------------------------------------------

DELIVERY_COLUMNS = (
    "id", "job_id", "url", "type", "body", "state", "attempts", "created_at", "next_attempt_at",
)  # fmt: skip
PENDING, DELIVERED, GIVEN_UP = "pending", "delivered", "given_up"


def delivery_record(v: Values, d: Delivery) -> dict[str, Any]:
    """A new message, due at once."""
    return {
        "id": d.id, "job_id": d.job_id, "url": d.url, "type": d.type, "body": d.body,
        "state": PENDING, "attempts": d.attempts, "created_at": v.time_out(d.created_at),
        "next_attempt_at": v.time_out(d.created_at),
    }  # fmt: skip


def delivery_from_row(v: Values, row: Row) -> Delivery:
    return Delivery(
        id=row["id"], job_id=row["job_id"], url=row["url"], type=row["type"], body=row["body"],
        created_at=v.time_in(row["created_at"]), attempts=row["attempts"],
    )  # fmt: skip
