"""Why each job was dead-lettered, kept where operators can list it.

Dramatiq's XQ holds the message as it was enqueued, not why it failed, and forgets it after
the dead-message TTL. This hash (job id → JSON with reason, time, message id) keeps the reason
for as long as an operator wants it; requeueing a job removes its record.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from dreamforge_adapters.dramatiq_queue.keys import QueueKeys

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One job parked in the dead-letter queue."""

    job_id: str
    reason: str
    at: datetime
    message_id: str | None


def encode_record(reason: str, message_id: str | None, at: datetime | None = None) -> str:
    when = (at or datetime.now(UTC)).isoformat()
    return json.dumps({"reason": reason, "at": when, "message_id": message_id})


def decode_record(job_id: str, raw: bytes | str) -> DeadLetter:
    data: dict[str, Any] = json.loads(raw)
    return DeadLetter(
        job_id=job_id,
        reason=str(data.get("reason", "")),
        at=datetime.fromisoformat(str(data["at"])),
        message_id=data.get("message_id"),
    )


def record_quietly(
    client: redis.Redis, keys: QueueKeys, job_id: str, reason: str, message_id: str | None
) -> None:
    """Records a reason from the worker's failure path, where a Redis error must not hide the
    job's own exception (the message still reaches the XQ through Dramatiq's nack)."""
    try:
        client.hset(keys.dead_letter_records, job_id, encode_record(reason, message_id))
    except redis.RedisError:
        log.exception("job %s: could not record why it was dead-lettered", job_id)
