"""Which queued job an idle worker takes when workers keep models warm (ADR 0034).

A model load costs seconds to minutes; a job on a warm model starts at once. When several
workers share one queue, a job should go to a worker that already holds its model, but routing
must neither starve a job nor hold it back long. The choice is a pure function of the queue's
front (the due jobs in start order), the models warm here and those warm on other live
workers, and `max_wait_s`:

1. only the highest priority present is considered: routing reorders jobs within one
   priority, never across priorities;
2. the oldest job whose model is warm here goes first (no load), unless the oldest job of
   all could start `max_wait_s` or more before it: a job is never passed over by one that
   came `max_wait_s` later;
3. otherwise the oldest job goes first once it has waited `max_wait_s`, whatever its model;
4. otherwise the oldest job whose model no other worker holds warm (someone must load it),
   within the same window as in 2;
5. otherwise every job waits for a worker that holds its model: this worker passes its turn,
   and `wait_s` says when the oldest job reaches `max_wait_s`.

With `max_wait_s` 0 the oldest job of the highest priority always goes first: the order
without routing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class QueuedTurn:
    """A due queued job as routing sees it."""

    job_id: str
    model_id: str
    priority: int
    created_at: datetime
    next_attempt_at: datetime | None = None

    def waited_s(self, now: datetime) -> float:
        """Seconds since the job could start: its creation, or its retry time."""
        since = max(self.created_at, self.next_attempt_at or self.created_at)
        return max(0.0, (now - since).total_seconds())


@dataclass(frozen=True, slots=True)
class Pick:
    """The job to run (`job_id`), or none: then `wait_s` until one is due for this worker
    (None when the queue's front is empty)."""

    job_id: str | None
    wait_s: float | None = None
    warm: bool = False  # the job's model is warm here


def pick_turn(
    front: Sequence[QueuedTurn],
    here: Collection[str],
    elsewhere: Collection[str],
    now: datetime,
    max_wait_s: float,
) -> Pick:
    """The job this worker should start now out of `front` (due jobs in start order)."""
    if not front:
        return Pick(None)
    top = front[0].priority
    level = [t for t in front if t.priority == top]
    oldest = level[0]

    def within_window(turn: QueuedTurn) -> bool:
        """Taking `turn` first holds the oldest job back by less than the bound."""
        return oldest.waited_s(now) - turn.waited_s(now) < max_wait_s

    warm = next((t for t in level if t.model_id in here), None)
    if warm is not None and within_window(warm):
        return Pick(warm.job_id, warm=True)
    if oldest.waited_s(now) >= max_wait_s:
        return Pick(oldest.job_id, warm=oldest.model_id in here)
    cold = next((t for t in level if t.model_id not in elsewhere), None)
    if cold is not None and within_window(cold):
        return Pick(cold.job_id)
    return Pick(None, wait_s=max_wait_s - oldest.waited_s(now))
