from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from dreamforge_core.domain.events import Event


class Subscription(Protocol):
    def close(self) -> None: ...


class CallbackSubscription(Subscription):
    """One follower's callback for one job, as a bus keeps it; closing it asks the bus to
    `remove` it."""

    def __init__(
        self,
        job_id: str,
        callback: Callable[[Event], None],
        remove: Callable[[CallbackSubscription], None],
    ) -> None:
        self.job_id = job_id
        self.callback = callback
        self._remove = remove

    def close(self) -> None:
        self._remove(self)


class EventBus(Protocol):
    """Live delivery of stored events to whoever follows a job (SSE streams).

    Delivery is best effort: a follower that misses an event finds it in the JobRepo, which
    is the source of truth. Callbacks run on the publisher's thread and must not block.
    """

    def publish(self, events: Sequence[Event]) -> None: ...

    def subscribe(self, job_id: str, callback: Callable[[Event], None]) -> Subscription: ...


def remove_subscription(
    subs: dict[str, list[CallbackSubscription]], sub: CallbackSubscription
) -> bool:
    """Takes `sub` out of a bus's lists by job; True when its job has no subscription left
    (the caller holds the bus's lock)."""
    listed = subs.get(sub.job_id, [])
    if sub in listed:
        listed.remove(sub)
    if listed:
        return False
    subs.pop(sub.job_id, None)
    return True
