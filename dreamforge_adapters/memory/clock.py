from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dreamforge_core.ports.clock import Clock


class ManualClock(Clock):
    """A clock that moves only when told to (or by `tick` on every read)."""

    def __init__(self, start: datetime | None = None, tick: timedelta = timedelta(0)) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._tick = tick

    def now(self) -> datetime:
        current = self._now
        self._now += self._tick
        return current

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
