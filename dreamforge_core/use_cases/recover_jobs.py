from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from datetime import timedelta

from dreamforge_core.domain.job import GENERATE, JobState
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.errors import ConcurrentUpdate
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.job_queue import JobQueue
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.use_cases.abandoned import reclaim_abandoned


@dataclass(frozen=True, slots=True)
class RecoverJobs:
    """Finds jobs of `job_type` that their queue has lost sight of and puts them back on it.

    Rules:
    - a `running` job whose worker is gone goes back to `queued` and resumes at its first
      unfinished item, unless it has used all its attempts: a job that keeps killing its
      worker is poisoned, so it fails (`provider_error`) and is dead-lettered, never looping;
      with `assume_dead` (the embedded deployment at start-up, where no other worker exists)
      every running job counts as abandoned, otherwise only those whose lease has expired;
    - a `queued` job is enqueued again (at its retry time, if it has one) when it has not
      changed for `grace_s` and the queue holds no waiting message (a busy queue most likely
      still holds it; re-sending every sweep would flood it): a job stored but never
      enqueued (a crash between the two, or a queue outage) is not lost; an extra message is
      harmless, since claiming a job is atomic. With `assume_dead` every queued job is
      enqueued (the in-process queue starts empty).
    """

    repo: JobRepo
    queue: JobQueue
    bus: EventBus
    clock: Clock
    retry: RetryPolicy
    _: KW_ONLY
    assume_dead: bool = False
    grace_s: float = 0.0
    job_type: str = GENERATE

    def __call__(self) -> int:
        recovered = 0
        depth = self.queue.depth()
        queue_idle = depth.get("ready", 0) + depth.get("delayed", 0) == 0
        grace = timedelta(seconds=self.grace_s)
        for job_id in self.repo.job_ids_in([JobState.RUNNING, JobState.QUEUED]):
            job = self.repo.get(job_id)
            if job is None or job.type != self.job_type:
                continue
            now = self.clock.now()
            if job.state is JobState.RUNNING:
                if not (self.assume_dead or job.lease_expired(now)):
                    continue
                poisoned = reclaim_abandoned(job, now, self.retry)
                try:
                    self.bus.publish(self.repo.save(job))
                except ConcurrentUpdate:
                    continue
                if poisoned:
                    self.queue.dead_letter(job.id, poisoned)
                    continue
            elif not self.assume_dead and (now - job.updated_at < grace or not queue_idle):
                continue
            delay = 0.0
            if job.next_attempt_at is not None:
                delay = max(0.0, (job.next_attempt_at - now).total_seconds())
            self.queue.enqueue(job.id, delay)
            recovered += 1
        return recovered
