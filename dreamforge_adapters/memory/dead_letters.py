"""A dead-letter queue in memory, in front of any JobQueue that runs the requeued jobs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.dead_letter_queue import DeadLetterQueue
from dreamforge_core.ports.job_queue import JobQueue


@dataclass(frozen=True, slots=True)
class MemoryDeadLetter:
    job_id: str
    reason: str
    at: datetime


class MemoryDeadLetterQueue(DeadLetterQueue):
    def __init__(self, queue: JobQueue, clock: Clock) -> None:
        self._queue = queue
        self._clock = clock
        self._parked: dict[str, MemoryDeadLetter] = {}

    def park(self, job_id: str, reason: str) -> None:
        self._parked[job_id] = MemoryDeadLetter(job_id, reason, self._clock.now())

    def dead_letters(self) -> list[MemoryDeadLetter]:
        return sorted(self._parked.values(), key=lambda d: d.at)

    def requeue_dead_letters(self, job_ids: Iterable[str] | None = None) -> int:
        targets = (
            list(self._parked) if job_ids is None else [j for j in job_ids if j in self._parked]
        )
        for job_id in targets:
            self._queue.enqueue(job_id)  # before forgetting it, as the port requires
            del self._parked[job_id]
        return len(targets)
