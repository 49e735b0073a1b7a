"""When a record of progress is worth a write of its own.

A fast runner reports far more steps than clients need to see, and every write costs the
database a transaction and the event stream an event. The pacer remembers when the job was
last written and since when something recorded is still waiting to be; the job it paces
holds the lock around both.
"""

from __future__ import annotations


class ProgressPacer:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s  # at most one stored progress record this often
        self._written_at = 0.0  # monotonic time of the job's last write
        self._held_since: float | None = None  # when the oldest unwritten record was made

    def due(self, now: float) -> bool:
        """A progress interval has passed since the last write."""
        return now - self._written_at >= self.interval_s

    def held_for(self, now: float) -> float:
        """How long the oldest record not yet written has waited (0 when there is none)."""
        held = self._held_since
        return 0.0 if held is None else now - held

    def hold(self, since: float) -> None:
        """Something was recorded without a write; the next write takes it along."""
        if self._held_since is None:
            self._held_since = since

    def written(self, at: float) -> None:
        self._written_at = at
        self._held_since = None
