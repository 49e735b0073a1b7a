from __future__ import annotations

from dreamforge_core.domain.job import ErrorInfo, JobState
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.errors import ConcurrentUpdate
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.job_queue import JobQueue
from dreamforge_core.ports.job_repo import JobRepo


class RecoverJobs:
    """Puts every unfinished job back on the queue when a worker starts.

    Rules: run only where no other worker can be running a job (the embedded deployment at
    start-up, before its worker starts); a `running` job was interrupted, so it goes back to
    `queued` and resumes at its first unfinished item, unless it has used all its attempts:
    a job that keeps killing its worker is poisoned, so it fails (`provider_error`) and is
    dead-lettered instead of looping; every `queued` job is enqueued again (at its retry time,
    if it has one), which also covers jobs stored but never enqueued.
    """

    def __init__(
        self, repo: JobRepo, queue: JobQueue, bus: EventBus, clock: Clock, retry: RetryPolicy
    ) -> None:
        self._repo = repo
        self._queue = queue
        self._bus = bus
        self._clock = clock
        self._retry = retry

    def __call__(self) -> int:
        recovered = 0
        for job_id in self._repo.job_ids_in([JobState.RUNNING, JobState.QUEUED]):
            job = self._repo.get(job_id)
            if job is None:
                continue
            now = self._clock.now()
            if job.state is JobState.RUNNING:
                poisoned = job.attempts >= self._retry.max_attempts
                if poisoned:
                    message = f"the worker stopped {job.attempts} times while running this job"
                    job.fail(ErrorInfo("provider_error", message), now)
                else:
                    job.requeue_interrupted(now)
                try:
                    self._bus.publish(self._repo.save(job))
                except ConcurrentUpdate:
                    continue
                if poisoned:
                    self._queue.dead_letter(job.id, f"provider_error: {message}")
                    continue
            delay = 0.0
            if job.next_attempt_at is not None:
                delay = max(0.0, (job.next_attempt_at - now).total_seconds())
            self._queue.enqueue(job.id, delay)
            recovered += 1
        return recovered
