"""What webhooks need from outside the core: the body of a message as the API shapes a job,
the outbox the messages wait in, the targets' addresses, and the HTTP request itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from dreamforge_core.domain.events import Event, EventDraft
from dreamforge_core.domain.job import Job
from dreamforge_core.domain.webhooks import Delivery, WebhookDraft, new_message_id
from dreamforge_core.errors import DreamForgeError


class WebhookBodies(Protocol):
    """The JSON a message carries: `{"type", "timestamp", "data": <Job>}`, the Job as it
    stands at the event, with the artifact of an `item_completed`."""

    def body(self, job: Job, draft: WebhookDraft) -> str: ...


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """How one attempt went and what happens next: `retry_at` None ends the delivery
    (delivered, or given up)."""

    delivery: Delivery
    delivered: bool
    retry_at: datetime | None
    event: EventDraft  # the job log line that tells of the attempt


class WebhookOutbox(Protocol):
    """Stored messages, written by the job repository with the change that caused them.

    `claim` hands each due message to one deliverer at a time: a claimed message is not due
    again before `lease_until`, so a deliverer that dies mid-attempt only delays it.
    """

    def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]: ...

    def record(self, attempt: AttemptRecord) -> list[Event]:
        """Stores the attempt on its message and its line in the job's log, in one
        transaction; returns the stored event."""
        ...

    def next_due(self) -> datetime | None:
        """When the earliest waiting message is due (None: none waits)."""
        ...


class RefusedTarget(DreamForgeError):
    """A webhook URL whose host is, or resolves to, an address webhooks may not reach."""

    code = "invalid_input"


class WebhookTargets(Protocol):
    """Resolves a webhook's host and refuses it when an address is loopback, private,
    link-local or metadata (unless the operator allows private targets)."""

    def check(self, url: str) -> None:
        """Raises RefusedTarget."""
        ...


class WebhookSender(Protocol):
    def post(self, url: str, headers: Mapping[str, str], body: str, timeout_s: float) -> int:
        """POSTs once, without following redirects, to an address the target rules allow
        (checked again after resolving); returns the status code. Raises RefusedTarget, or
        Unavailable when no answer came."""
        ...


def messages(job: Job, bodies: WebhookBodies | None, new_id: Callable[[], str]) -> list[Delivery]:
    """The job's pending webhook messages as the repository stores them, each with its id and
    body fixed for every attempt to come."""
    if job.webhook is None or not job.pending_webhooks:
        return []
    if bodies is None:
        raise DreamForgeError("this store was given no way to write webhook bodies")
    return [
        Delivery(
            id=new_message_id(new_id),
            job_id=job.id,
            url=job.webhook.url,
            type=draft.type,
            body=bodies.body(job, draft),
            created_at=draft.ts,
        )
        for draft in job.pending_webhooks
    ]
