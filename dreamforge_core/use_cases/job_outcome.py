"""How an attempt that did not succeed ends: retried, failed or handed back. The same for
every job type.

Rules:
- on a graceful stop of the worker the job is handed back to its queue, runnable at once,
  and the attempt does not count: it stopped between items, or was interrupted past the
  drain window (any failure then is the stop's doing);
- a failure is classified by its code: transient classes are retried with backoff until
  the attempts run out, then the job fails; a failed job whose cause was unexpected
  (`internal`), or whose transient retries ran out, is dead-lettered;
- any other exception is a bug: it fails the job as `internal` rather than loop forever.
"""

from __future__ import annotations

from datetime import timedelta

from dreamforge_core.domain.job import GENERATE, ErrorInfo, ItemState, Job
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.errors import ConcurrentUpdate, DreamForgeError
from dreamforge_core.ports.stop_signal import Stopping
from dreamforge_core.use_cases.job_ports import JobPorts
from dreamforge_core.use_cases.running_job import RunningJob

# Codes whose failure marks a poisoned message: it goes to the dead-letter queue.
_POISON = frozenset({"internal"})


def job_duration(job: Job) -> float:
    end = job.finished_at or job.updated_at
    return (end - job.created_at).total_seconds()


class JobOutcome:
    def __init__(self, ports: JobPorts, retry: RetryPolicy) -> None:
        self._ports = ports
        self._retry = retry

    def settle(self, run: RunningJob, error: Exception) -> None:
        """Ends the attempt that raised `error`. A `ConcurrentUpdate` is not the job's
        failure (another worker has the job): it passes through."""
        if isinstance(error, ConcurrentUpdate):
            raise error
        if isinstance(error, Stopping):
            self.hand_back(run)
        elif isinstance(error, DreamForgeError):
            if self._ports.stop.overdue:  # the stop ended the runner mid-item
                self.hand_back(run)
            else:
                self.retry_or_fail(run, error)
        else:
            unexpected = DreamForgeError(f"unexpected error: {error!r}", job_id=run.job.id)
            self.retry_or_fail(run, unexpected)

    def hand_back(self, run: RunningJob) -> None:
        p, job = self._ports, run.job
        with run.lock:
            job.hand_back(p.clock.now())
            run.save()
        p.queue.enqueue(job.id)

    def retry_or_fail(self, run: RunningJob, error: DreamForgeError) -> None:
        p, job = self._ports, run.job
        with run.lock:
            now = p.clock.now()
            info = ErrorInfo(error.code, error.message)
            p.metrics.error(error.code)
            if job.type == GENERATE:
                running = sum(1 for i in job.items if i.state is ItemState.RUNNING)
                p.metrics.items_failed(running)
            if self._retry.should_retry(error.code, job.attempts, permanent=error.permanent):
                delay = self._retry.delay_s(job.attempts)
                job.schedule_retry(info, now, now + timedelta(seconds=delay))
                run.save()
                p.queue.enqueue(job.id, delay)
                return
            run.failing()  # first: whoever sees the job failed sees its clean-up done
            job.fail(info, now)
            run.save()
        stored = sum(1 for i in job.items if i.state is ItemState.SUCCEEDED)
        p.metrics.job_finished("failed", job_duration(job), job_type=job.type, images=stored)
        if error.code in _POISON or self._retry.should_retry(error.code, 0):
            p.queue.dead_letter(job.id, f"{info.code}: {info.message}")
