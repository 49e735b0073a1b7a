from __future__ import annotations

from collections.abc import Callable, Sequence

from dreamforge_core.domain.events import Event, LivePreview
from dreamforge_core.ports.event_bus import EventBus, FanOut, Subscription


class InProcessEventBus(EventBus):
    """Fans events and previews out to callbacks registered per job, on the publisher's
    thread."""

    def __init__(self) -> None:
        self._events = FanOut[Event]("event")
        self._previews = FanOut[LivePreview]("preview")

    def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            self._events.deliver(event)

    def subscribe(self, job_id: str, callback: Callable[[Event], None]) -> Subscription:
        return self._events.subscribe(job_id, callback)

    def publish_preview(self, preview: LivePreview) -> None:
        self._previews.deliver(preview)

    def subscribe_previews(
        self, job_id: str, callback: Callable[[LivePreview], None]
    ) -> Subscription:
        return self._previews.subscribe(job_id, callback)

    def subscriber_count(self) -> int:
        return self._events.count()
