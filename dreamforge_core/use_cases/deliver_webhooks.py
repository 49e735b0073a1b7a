"""Delivering webhook messages from the outbox: sign, post, record the attempt.

Rules:
- each attempt signs the message anew (a fresh `webhook-timestamp`) under its stored id and
  body, so a receiver sees one id for every attempt of one event and can drop repeats;
- a 2xx answer delivers the message; any other answer, no answer within the time-out, or a
  target refused after resolving is a failure, retried with backoff and jitter
  (`WebhookRetry`) until the retry window has passed, then given up;
- every attempt is a line in the job's log: `webhook_delivered`, or `webhook_failed` with the
  status code (null without an answer) and whether another attempt follows;
- nothing here runs on a job's own thread: the deliverer is on the IO side.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from datetime import timedelta

from dreamforge_core.domain.events import EventDraft, EventKind
from dreamforge_core.domain.webhooks import Delivery, WebhookRetry, signed_headers
from dreamforge_core.errors import DreamForgeError
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.job_metrics import JobMetrics
from dreamforge_core.ports.webhooks import AttemptRecord, WebhookOutbox, WebhookSender


@dataclass(frozen=True, slots=True)
class DeliverWebhooks:
    outbox: WebhookOutbox
    sender: WebhookSender
    bus: EventBus
    clock: Clock
    metrics: JobMetrics
    _: KW_ONLY
    key: bytes
    retry: WebhookRetry
    timeout_s: float

    def claim(self, limit: int) -> list[Delivery]:
        """Due messages, each now this deliverer's until its attempt can have ended."""
        now = self.clock.now()
        lease_until = now + timedelta(seconds=2 * self.timeout_s + 5)
        return self.outbox.claim(now, lease_until, limit)

    def attempt(self, delivery: Delivery) -> bool:
        """One attempt at one claimed message; True when it was delivered."""
        timestamp = int(self.clock.now().timestamp())
        headers = signed_headers(self.key, delivery.id, timestamp, delivery.body)
        status: int | None = None
        try:
            status = self.sender.post(delivery.url, headers, delivery.body, self.timeout_s)
            problem = f"answered {status}"
        except DreamForgeError as e:
            problem = e.message
        delivered = status is not None and 200 <= status < 300
        outcome = self._outcome(delivery, delivered, status, problem)
        self.bus.publish(self.outbox.record(outcome))
        ended = "given_up" if outcome.retry_at is None else "retried"
        self.metrics.webhook_attempt("delivered" if delivered else ended)
        return delivered

    def seconds_to_next(self, longest_s: float) -> float:
        """How long the deliverer may sleep before a message is due (at most `longest_s`)."""
        due = self.outbox.next_due()
        if due is None:
            return longest_s
        return max(0.0, min(longest_s, (due - self.clock.now()).total_seconds()))

    def _outcome(
        self, delivery: Delivery, delivered: bool, status: int | None, problem: str
    ) -> AttemptRecord:
        now = self.clock.now()
        attempt = delivery.attempts + 1
        data: dict[str, object] = {
            "webhook_id": delivery.id,
            "type": delivery.type,
            "attempt": attempt,
            "status_code": status,
        }
        if delivered:
            event = EventDraft(
                EventKind.LOG,
                "webhook_delivered",
                f"webhook {delivery.type} delivered (attempt {attempt}, HTTP {status})",
                now,
                data=data,
            )
            return AttemptRecord(delivery, True, None, event)
        next_try = now + timedelta(seconds=self.retry.delay_s(attempt))
        retry_at = None if self.retry.gives_up(delivery.created_at, next_try) else next_try
        then = f"next attempt at {retry_at.isoformat()}" if retry_at is not None else "giving up"
        data |= {"will_retry": retry_at is not None}
        event = EventDraft(
            EventKind.LOG,
            "webhook_failed",
            f"webhook {delivery.type} not delivered (attempt {attempt}): {problem}; {then}",
            now,
            level="warning",
            data=data,
        )
        return AttemptRecord(delivery, False, retry_at, event)
