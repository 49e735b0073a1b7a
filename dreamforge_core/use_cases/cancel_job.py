"""Cancelling a job: a queued one never runs, a running one stops at its runner's next step.

The cancel is one write of the job. A queued job's message stays on its queue and is dropped
when delivered (a worker never claims a finished job); recovery and the sweepers look at
queued and running jobs only, so a canceled job is never resumed. A running job's worker
finds the job changed at its next save (`ConcurrentUpdate`), which interrupts the runner at
its next denoising step and ends the attempt without writing anything more.
"""

from __future__ import annotations

from dreamforge_core.domain.job import Job
from dreamforge_core.errors import ConcurrentUpdate, NotFound
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.job_repo import JobRepo

#: A running job's worker saves progress often; a cancel that meets one of its saves reads
#: the job again and tries again, this many times at most.
ATTEMPTS = 20


class CancelJob:
    def __init__(self, repo: JobRepo, bus: EventBus, clock: Clock) -> None:
        self._repo = repo
        self._bus = bus
        self._clock = clock

    def __call__(self, job_id: str) -> Job:
        """The job, canceled now or before. Raises NotFound, or InvalidState for a job that
        succeeded or failed."""
        for attempt in range(ATTEMPTS):
            job = self._repo.get(job_id)
            if job is None:
                raise NotFound.job(job_id)
            if not job.cancel(self._clock.now()):
                return job  # canceled before: the same answer again
            try:
                self._bus.publish(self._repo.save(job))
            except ConcurrentUpdate:
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            return job
        raise AssertionError("unreachable")  # the loop returns or raises
