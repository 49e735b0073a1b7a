from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from dreamforge_core.domain.job import JobState
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.dead_letter_queue import DeadLetterQueue
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.job_repo import JobRepo


@dataclass(frozen=True, slots=True)
class Requeued:
    job_id: str
    queue: str
    reopened: bool  # False: the job was not `failed` (already requeued, or gone)


class RequeueDeadLetters:
    """Sends dead-lettered jobs back to their queues once an operator has fixed the cause.

    Rules:
    - only parked jobs are touched: those named in `job_ids` that some queue holds, or every
      parked job when `job_ids` is None; a name no queue holds is ignored;
    - a parked job that is `failed` is reopened (`queued`, event `job_reopened`): it resumes
      at its first unfinished item with one more attempt, so an unfixed cause fails it again;
    - the job is saved before its entry goes back on the queue: a crash between the two
      leaves a queued job that the sweeper enqueues, never a message for a failed job;
    - a parked job that is not `failed` is sent back unchanged: the worker ignores a message
      for a job that cannot run, and the entry is cleared.
    """

    def __init__(
        self, repo: JobRepo, bus: EventBus, clock: Clock, queues: Mapping[str, DeadLetterQueue]
    ) -> None:
        self._repo = repo
        self._bus = bus
        self._clock = clock
        self._queues = queues

    def __call__(self, job_ids: Collection[str] | None = None) -> list[Requeued]:
        done: list[Requeued] = []
        for name, queue in self._queues.items():
            parked = [e.job_id for e in queue.dead_letters()]
            chosen = [j for j in parked if job_ids is None or j in job_ids]
            for job_id in chosen:
                reopened = self._reopen(job_id)
                queue.requeue_dead_letters([job_id])
                done.append(Requeued(job_id, name, reopened))
        return done

    def _reopen(self, job_id: str) -> bool:
        job = self._repo.get(job_id)
        if job is None or job.state is not JobState.FAILED:
            return False
        job.reopen(self._clock.now())
        self._bus.publish(self._repo.save(job))
        return True
