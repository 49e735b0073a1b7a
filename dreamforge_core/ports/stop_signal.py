"""A worker's graceful stop, as the attempts it interrupts see it.

The process asks for the stop (SIGTERM, SIGINT); an attempt reads the signal between items
and at every runner report. No thread is needed in the core: the attempt polls.
"""

from __future__ import annotations

from typing import Protocol


class StopSignal(Protocol):
    @property
    def requested(self) -> bool:
        """The worker is stopping: start no new item, hand the job back to its queue."""
        ...

    @property
    def overdue(self) -> bool:
        """The drain window has passed: interrupt the item in progress too."""
        ...


class Stopping(Exception):
    """Raised through the runner when the item in progress must stop for a graceful stop.
    Runners let it pass; `JobOutcome` hands the job back."""


class NeverStop:
    """The signal of a process that never stops gracefully (tests, one-shot runs)."""

    @property
    def requested(self) -> bool:
        return False

    @property
    def overdue(self) -> bool:
        return False


NO_STOP: StopSignal = NeverStop()
