from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from dreamforge_core.domain.events import Event, LivePreview
from dreamforge_core.ports.event_bus import (
    CallbackSubscription,
    EventBus,
    PreviewFanOut,
    Subscription,
    remove_subscription,
)

log = logging.getLogger(__name__)


class InProcessEventBus(EventBus):
    """Fans events out to callbacks registered per job, on the publisher's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, list[CallbackSubscription[Event]]] = {}
        self._previews = PreviewFanOut()

    def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            with self._lock:
                subs = list(self._subs.get(event.job_id, ()))
            for sub in subs:
                try:
                    sub.callback(event)
                except Exception:  # one broken follower must not stop a job
                    log.exception("event subscriber failed")

    def subscribe(self, job_id: str, callback: Callable[[Event], None]) -> Subscription:
        sub = CallbackSubscription[Event](job_id, callback, self._remove)
        with self._lock:
            self._subs.setdefault(job_id, []).append(sub)
        return sub

    def publish_preview(self, preview: LivePreview) -> None:
        self._previews.deliver(preview)

    def subscribe_previews(
        self, job_id: str, callback: Callable[[LivePreview], None]
    ) -> Subscription:
        return self._previews.subscribe(job_id, callback)

    def _remove(self, sub: CallbackSubscription[Event]) -> None:
        with self._lock:
            remove_subscription(self._subs, sub)

    def subscriber_count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())
