from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from dreamforge_core.domain.job import ErrorInfo, Job, JobState
from dreamforge_core.domain.presets import DEFAULT_PRESETS, Preset
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.errors import ConcurrentUpdate, DreamForgeError, Unavailable
from dreamforge_core.use_cases.abandoned import reclaim_abandoned
from dreamforge_core.use_cases.attempt import Attempt
from dreamforge_core.use_cases.execution import (
    ExecutionContext,
    ExecutionLimits,
    ExecutionPorts,
    job_duration,
)
from dreamforge_core.use_cases.lease_keeper import LeaseKeeper

__all__ = ["ExecuteJob", "ExecutionLimits", "ExecutionPorts"]

# Codes whose failure marks a poisoned message: it goes to the dead-letter queue.
_POISON = frozenset({"internal"})


class ExecuteJob:
    """Runs one delivery of a job id.

    Rules:
    - a job that is missing, finished or held by a live worker is left alone (redelivery is a
      no-op); a job whose retry time has not come is put back on the queue for later;
    - the job is claimed with one optimistic update (`queued → running`) that also takes a
      lease, renewed on every save and by the lease keeper; losing the race means another
      worker has it; the claim is written with the first item's start (a retry, which must
      clean up first, writes it alone); a running job whose lease lapsed lost its worker and
      is taken over (resumed, or failed as poisoned when its attempts are used up);
    - items run in order from the first unfinished one; each item's seed is drawn immediately
      before it starts (a given seed is used only when count is 1); finished items keep their
      artifacts, and blobs a crashed attempt left without an artifact row are deleted;
    - encoding, hashing and storing item N overlap the generation of item N+1, so the runner
      never waits on storage; a failure of either fails the attempt;
    - the generate step of one attempt has `step_timeout_s` in all; past it the item fails
      with `timeout`;
    - a failure is classified by its code: transient classes are retried with backoff until
      the attempts run out, then the job fails; a failed job whose cause was unexpected
      (`internal`), or whose transient retries ran out, is dead-lettered;
    - while a loaded job is handled, process log lines carry its step id (the caller binds
      the job id, which it knows before the job is read).
    """

    def __init__(
        self,
        ports: ExecutionPorts,
        retry: RetryPolicy,
        *,
        generator: str,
        limits: ExecutionLimits | None = None,
        presets: Mapping[str, Preset] = DEFAULT_PRESETS,
    ) -> None:
        self._p = ports
        self._retry = retry
        self._limits = limits or ExecutionLimits()
        leases = LeaseKeeper(self._limits.lease_s / 3)
        self._context = ExecutionContext(ports, self._limits, generator, presets, leases)

    def __call__(self, job_id: str) -> None:
        try:
            self._run(job_id)
        except Unavailable:
            # A store is down: the job's row still says what comes next. The sweeper enqueues
            # a queued job again and takes over a running one once its lease lapses.
            return

    def _run(self, job_id: str) -> None:
        p = self._p
        job = p.repo.get(job_id)
        if job is None or job.state.terminal:
            return
        with p.log_context.bound(step_id=job.step.id):
            self._run_loaded(job)

    def _run_loaded(self, job: Job) -> None:
        p, job_id = self._p, job.id
        now = p.clock.now()
        abandoned = job.state is JobState.RUNNING and job.lease_expired(now)
        if job.state is JobState.RUNNING and not (abandoned and self._take_over(job, now)):
            return
        if job.next_attempt_at is not None and job.next_attempt_at > now:
            p.queue.enqueue(job_id, (job.next_attempt_at - now).total_seconds())
            return
        # The claim (`queued → running` with a lease) is stored by the attempt's first save,
        # together with the first item's start: one write, and losing the race shows there.
        job.start(now, self._limits.worker_id, self._context.lease_until(now))
        run = Attempt(self._context, job)
        try:
            try:
                run.execute()
            except ConcurrentUpdate:
                raise  # not a failure of the job: handled below
            except DreamForgeError as e:
                self._fail_or_retry(run, e)
            except Exception as e:  # an unexpected bug must fail the job, not loop forever
                error = DreamForgeError(f"unexpected error: {e!r}", job_id=job.id)
                self._fail_or_retry(run, error)
        except ConcurrentUpdate:
            return  # another worker claimed or took over the job; it owns the outcome now
        finally:
            run.close()
        if job.attempts == 1:
            p.metrics.queue_wait((now - job.created_at).total_seconds())

    def _take_over(self, job: Job, now: datetime) -> bool:
        """Its worker died mid-run; True when the job is queued again and may run now."""
        poisoned = reclaim_abandoned(job, now, self._retry)
        try:
            self._p.bus.publish(self._p.repo.save(job))
        except ConcurrentUpdate:
            return False
        if poisoned:
            self._p.queue.dead_letter(job.id, poisoned)
            return False
        return True

    def _fail_or_retry(self, run: Attempt, error: DreamForgeError) -> None:
        p, job = self._p, run.job
        with run.lock:
            now = p.clock.now()
            info = ErrorInfo(error.code, error.message)
            p.metrics.error(error.code)
            if self._retry.should_retry(error.code, job.attempts):
                delay = self._retry.delay_s(job.attempts)
                job.schedule_retry(info, now, now + timedelta(seconds=delay))
                run.save()
                p.queue.enqueue(job.id, delay)
                return
            job.fail(info, now)
            run.save()
        p.metrics.job_finished("failed", job_duration(job))
        if error.code in _POISON or self._retry.should_retry(error.code, 0):
            p.queue.dead_letter(job.id, f"{info.code}: {info.message}")
