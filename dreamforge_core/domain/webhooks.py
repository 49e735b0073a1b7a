"""Webhooks: which job events a client asked to be told of, where, and the messages that tell
them, signed as Standard Webhooks sign them (https://www.standardwebhooks.com).

A message is recorded by the Job when its transition happens and stored with it in one
transaction (the outbox); a deliverer sends it later, and again after a failure, always
under the same `webhook-id` so that a receiver can drop a repeat.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from dreamforge_core.domain.artifact import Artifact
from dreamforge_core.errors import FieldError

STARTED, ITEM_COMPLETED, COMPLETED = "started", "item_completed", "completed"
#: The events a client may ask for; `completed` covers succeeded, failed and canceled.
WEBHOOK_EVENTS = (STARTED, ITEM_COMPLETED, COMPLETED)
DEFAULT_EVENTS = (COMPLETED,)
MAX_URL_LENGTH = 2048
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where a job's events go, and which ones."""

    url: str
    events: tuple[str, ...] = DEFAULT_EVENTS

    def wants(self, event: str) -> bool:
        return event in self.events

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "events": list(self.events)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Webhook:
        return cls(url=str(data["url"]), events=tuple(data["events"]))


@dataclass(frozen=True, slots=True)
class WebhookDraft:
    """A message recorded by the Job and not yet stored: the event, when it happened and, for
    `item_completed`, the artifact it is about."""

    event: str
    ts: datetime
    artifact: Artifact | None = None

    @property
    def type(self) -> str:
        return f"job.{self.event}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """A stored message on its way: its body is fixed when it is stored, so every attempt
    sends the same bytes under the same id."""

    id: str
    job_id: str
    url: str
    type: str
    body: str
    created_at: datetime
    attempts: int = 0


def new_message_id(new_id: Callable[[], str]) -> str:
    return f"msg_{new_id()}"


# --- validation -------------------------------------------------------------------------------


def validate_webhook(url: Any, events: Any) -> tuple[Webhook | None, list[FieldError]]:
    """The webhook of a job request (`webhook`, `webhook_events`), or the field errors.

    The URL must be absolute http or https with a host and without credentials; a host that is
    an IP address is judged here, a name after it resolves (`WebhookTargets`).
    """
    errors: list[FieldError] = []
    if url is None:
        if events is not None:
            errors.append(FieldError("webhook_events", "needs a `webhook` to send them to"))
        return None, errors
    if not isinstance(url, str):
        return None, [FieldError("webhook", "must be an http or https URL")]
    if (problem := _url_problem(url)) is not None:
        errors.append(FieldError("webhook", problem))
    chosen = _events(events, errors)
    if errors:
        return None, errors
    return Webhook(url=url, events=chosen), []


def _url_problem(url: str) -> str | None:
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as e:
        return f"is not a valid URL: {e}"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials"
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        return "must not contain spaces or control characters"
    return None


def _events(events: Any, errors: list[FieldError]) -> tuple[str, ...]:
    if events is None:
        return DEFAULT_EVENTS
    if not isinstance(events, list) or not events:
        errors.append(FieldError("webhook_events", f"must be a non-empty list of {_names()}"))
        return DEFAULT_EVENTS
    unknown = [e for e in events if e not in WEBHOOK_EVENTS]
    if unknown:
        errors.append(
            FieldError("webhook_events", f"unknown event(s) {unknown!r}: choose from {_names()}")
        )
        return DEFAULT_EVENTS
    return tuple(e for e in WEBHOOK_EVENTS if e in events)  # one order, no repeats


def _names() -> str:
    return ", ".join(WEBHOOK_EVENTS)


# --- signing ----------------------------------------------------------------------------------


def secret_bytes(secret: str) -> bytes:
    """The key of a `whsec_…` secret. Raises ValueError when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise ValueError(f"the part after {SECRET_PREFIX!r} must be base64") from None
    if len(key) < 24:  # Standard Webhooks asks for 24 to 64 bytes
        raise ValueError("the secret must hold at least 24 bytes")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header: `v1,` and the base64 HMAC-SHA256 of
    `{id}.{timestamp}.{body}`."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(key: bytes, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id, timestamp, body),
    }


# --- retries ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookRetry:
    """Exponential backoff with jitter: the n-th failure waits between half and all of
    `base_s * 2**(n-1)` (at most `cap_s`); no attempt starts once `give_up_after_s` have passed
    since the message was stored. The defaults keep trying for more than an hour."""

    base_s: float = 5.0
    cap_s: float = 600.0
    give_up_after_s: float = 4500.0

    def delay_s(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        full: float = min(self.cap_s, self.base_s * 2.0 ** max(0, failures - 1))
        return full * (0.5 + rand() / 2)

    def gives_up(self, created_at: datetime, retry_at: datetime) -> bool:
        return (retry_at - created_at).total_seconds() > self.give_up_after_s
