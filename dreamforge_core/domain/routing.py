"""Which queued job an idle worker takes when workers keep models warm (ADR 0034).

A model load costs seconds to minutes; a job on a warm model starts at once. When several
workers share one queue, a job should go to a worker that already holds its model, but never
wait for one longer than `max_wait_s`. The choice is a pure function of the queue's front
(the due jobs in start order), the models warm here and those warm on other live workers:

1. only the highest priority present is considered: routing reorders jobs within one
   priority, never across priorities;
2. a job that has waited `max_wait_s` or more goes first (oldest first): the wait bound;
3. then the oldest job whose model is warm here (no load);
4. then the oldest job whose model no other worker holds warm (someone must load it);
5. otherwise every job waits for a worker that holds its model: this worker passes its turn,
   and `wait_s` says when the first of them reaches `max_wait_s`.

With `max_wait_s` 0 every job is past its bound, so the oldest job of the highest priority
goes first: the order without routing.
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
    for turn in level:
        if turn.waited_s(now) >= max_wait_s:
            return Pick(turn.job_id, warm=turn.model_id in here)
    for turn in level:
        if turn.model_id in here:
            return Pick(turn.job_id, warm=True)
    for turn in level:
        if turn.model_id not in elsewhere:
            return Pick(turn.job_id)
    return Pick(None, wait_s=min(max_wait_s - t.waited_s(now) for t in level))
