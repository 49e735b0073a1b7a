"""The lifecycle every job type shares when a worker receives a job id: claim with a lease,
take over the jobs of dead workers, run one attempt, then retry, fail or dead-letter."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from dreamforge_core.domain.job import GENERATE, ErrorInfo, ItemState, Job, JobState
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.errors import ConcurrentUpdate, DreamForgeError, Unavailable
from dreamforge_core.ports.job_metrics import JobMetrics
from dreamforge_core.ports.job_queue import JobQueue
from dreamforge_core.ports.log_context import LogContext
from dreamforge_core.ports.stop_signal import Stopping, StopSignal
from dreamforge_core.ports.tracer import Tracer
from dreamforge_core.use_cases.abandoned import reclaim_abandoned
from dreamforge_core.use_cases.execution import ExecutionLimits, job_duration
from dreamforge_core.use_cases.job_attempt import JobAttempt, JobStore
from dreamforge_core.use_cases.lease_keeper import LeaseKeeper
from dreamforge_core.use_cases.worker_gap import WorkerGap

# Codes whose failure marks a poisoned message: it goes to the dead-letter queue.
_POISON = frozenset({"internal"})


class LifecyclePorts(JobStore, Protocol):
    @property
    def queue(self) -> JobQueue: ...

    @property
    def metrics(self) -> JobMetrics: ...

    @property
    def log_context(self) -> LogContext: ...

    @property
    def tracer(self) -> Tracer: ...

    @property
    def stop(self) -> StopSignal: ...


class JobExecutor:
    """Runs one delivery of a job id of `job_type`.

    Rules:
    - a job that is missing, finished, of another type or held by a live worker is left
      alone (redelivery is a no-op); a job whose retry time has not come is put back on the
      queue for later;
    - the job is claimed with one optimistic update (`queued → running`) that also takes a
      lease, renewed on every save and by the lease keeper; losing the race means another
      worker has it; the attempt stores the claim with its first save; a running job whose
      lease lapsed lost its worker and is taken over (resumed, or failed as poisoned when
      its attempts are used up);
    - on a graceful stop of the worker a job is handed back to its queue, runnable at once,
      and the attempt does not count: a delivery that arrives while the worker stops is put
      back unclaimed; an attempt hands its job back when it stops between items or is
      interrupted past the drain window (any failure then is the stop's doing);
    - a failure is classified by its code: transient classes are retried with backoff until
      the attempts run out, then the job fails; a failed job whose cause was unexpected
      (`internal`), or whose transient retries ran out, is dead-lettered;
    - while a loaded job is handled, process log lines carry its step id (the caller binds
      the job id, which it knows before the job is read).
    """

    job_type = ""  # set by each subclass

    def __init__(self, ports: LifecyclePorts, retry: RetryPolicy, limits: ExecutionLimits) -> None:
        self._ports = ports
        self._retry = retry
        self._limits = limits
        self._leases = LeaseKeeper(limits.lease_s / 3)
        self._gap = WorkerGap()

    def _attempt(self, job: Job) -> JobAttempt:
        """A new attempt at `job`, claimed but not yet saved."""
        raise NotImplementedError

    def __call__(self, job_id: str) -> None:
        try:
            self._run(job_id)
        except Unavailable:
            # A store is down: the job's row still says what comes next. The sweeper enqueues
            # a queued job again and takes over a running one once its lease lapses.
            return

    def _run(self, job_id: str) -> None:
        p = self._ports
        job = p.repo.get(job_id)
        if job is None or job.state.terminal or job.type != self.job_type:
            return  # a job of another type was sent to the wrong queue: its sweeper has it
        with p.log_context.bound(step_id=job.step.id):
            self._run_loaded(job)

    def _run_loaded(self, job: Job) -> None:
        p, job_id = self._ports, job.id
        now = p.clock.now()
        abandoned = job.state is JobState.RUNNING and job.lease_expired(now)
        if job.state is JobState.RUNNING and not (abandoned and self._take_over(job, now)):
            return
        if job.next_attempt_at is not None and job.next_attempt_at > now:
            p.queue.enqueue(job_id, (job.next_attempt_at - now).total_seconds())
            return
        if p.stop.requested:
            p.queue.enqueue(job_id)  # for the next worker: this one is stopping
            return
        first_start = job.started_at is None
        lease_until = now + timedelta(seconds=self._limits.lease_s)
        if (gap := self._gap.started(job, now)) is not None:
            p.metrics.worker_gap(gap)
        job.start(now, self._limits.worker_id, lease_until)
        run = self._attempt(job)
        span = p.tracer.span(
            "dreamforge.job.attempt", job_id=job.id, job_type=job.type, attempt=job.attempts
        )
        try:
            try:
                with span:
                    run.execute()
            except ConcurrentUpdate:
                raise  # not a failure of the job: handled below
            except Stopping:
                self._hand_back(run)
            except DreamForgeError as e:
                if p.stop.overdue:  # the stop ended the runner mid-item
                    self._hand_back(run)
                else:
                    self._fail_or_retry(run, e)
            except Exception as e:  # an unexpected bug must fail the job, not loop forever
                error = DreamForgeError(f"unexpected error: {e!r}", job_id=job.id)
                self._fail_or_retry(run, error)
        except ConcurrentUpdate:
            return  # another worker claimed or took over the job; it owns the outcome now
        finally:
            self._gap.ended(job.finished_at or p.clock.now())
            run.close()
        if first_start:
            p.metrics.queue_wait((now - job.created_at).total_seconds())

    def _take_over(self, job: Job, now: datetime) -> bool:
        """Its worker died mid-run; True when the job is queued again and may run now."""
        poisoned = reclaim_abandoned(job, now, self._retry)
        try:
            self._ports.bus.publish(self._ports.repo.save(job))
        except ConcurrentUpdate:
            return False
        if poisoned:
            self._ports.queue.dead_letter(job.id, poisoned)
            return False
        return True

    def _hand_back(self, run: JobAttempt) -> None:
        p, job = self._ports, run.job
        with run.lock:
            job.hand_back(p.clock.now())
            run.save()
        p.queue.enqueue(job.id)

    def _fail_or_retry(self, run: JobAttempt, error: DreamForgeError) -> None:
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
            run.failed()  # first: whoever sees the job failed sees its clean-up done
            job.fail(info, now)
            run.save()
        stored = sum(1 for i in job.items if i.state is ItemState.SUCCEEDED)
        p.metrics.job_finished("failed", job_duration(job), job_type=job.type, images=stored)
        if error.code in _POISON or self._retry.should_retry(error.code, 0):
            p.queue.dead_letter(job.id, f"{info.code}: {info.message}")
