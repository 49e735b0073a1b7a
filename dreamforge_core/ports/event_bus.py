from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from dreamforge_core.domain.events import Event, LivePreview

log = logging.getLogger(__name__)


class Subscription(Protocol):
    def close(self) -> None: ...


T = TypeVar("T")


class CallbackSubscription(Subscription, Generic[T]):
    """One follower's callback for one job (of events, or of previews), as a bus keeps it;
    closing it asks the bus to `remove` it."""

    def __init__(
        self,
        job_id: str,
        callback: Callable[[T], None],
        remove: Callable[[Any], None],
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

    def publish_preview(self, preview: LivePreview) -> None:
        """Hands a live preview to whoever follows its job now; nothing is stored, and a
        failure is only logged (previews are expendable)."""
        ...

    def subscribe_previews(
        self, job_id: str, callback: Callable[[LivePreview], None]
    ) -> Subscription: ...


class _OfAJob(Protocol):
    @property
    def job_id(self) -> str: ...


J = TypeVar("J", bound=_OfAJob)


class FanOut(Generic[J]):
    """Callbacks per job, run on the caller's thread: how a bus hands events or previews to
    the followers in its own process."""

    def __init__(self, what: str) -> None:
        self._what = what  # names the failing kind of follower in the log
        self._lock = threading.Lock()
        self._subs: dict[str, list[CallbackSubscription[J]]] = {}

    def subscribe(self, job_id: str, callback: Callable[[J], None]) -> Subscription:
        sub = CallbackSubscription[J](job_id, callback, self._remove)
        with self._lock:
            self._subs.setdefault(job_id, []).append(sub)
        return sub

    def followed(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._subs

    def count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())

    def deliver(self, item: J) -> None:
        with self._lock:
            subs = list(self._subs.get(item.job_id, ()))
        for sub in subs:
            try:
                sub.callback(item)
            except Exception:  # one broken follower must not stop a job
                log.exception("%s subscriber failed", self._what)

    def _remove(self, sub: CallbackSubscription[J]) -> None:
        with self._lock:
            remove_subscription(self._subs, sub)


def remove_subscription(
    subs: dict[str, list[CallbackSubscription[T]]], sub: CallbackSubscription[T]
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
