"""The job message a worker thread is running, shared by the actor and the queue adapter.

`RunGenerateJob` calls `queue.dead_letter(job_id, reason)` from inside the handler. The queue cannot
nack the message itself (only the worker that fetched it can), so it marks the delivery here and
the actor raises `DeadLettered` once the handler returns; Dramatiq then nacks it into the XQ.
A context variable is per thread, so concurrent worker threads never see each other's mark.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(slots=True)
class Delivery:
    job_id: str
    message_id: str | None
    dead_letter_reason: str | None = None


_current: ContextVar[Delivery | None] = ContextVar("dreamforge_delivery", default=None)


def current_delivery(job_id: str) -> Delivery | None:
    """The delivery of `job_id` this thread is running, or None (e.g. in a sweeper)."""
    delivery = _current.get()
    return delivery if delivery is not None and delivery.job_id == job_id else None


def begin(delivery: Delivery) -> Token[Delivery | None]:
    return _current.set(delivery)


def end(token: Token[Delivery | None]) -> None:
    _current.reset(token)
