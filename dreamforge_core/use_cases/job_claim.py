"""Taking a delivered job id to a claimed job, and letting it go: the same for every job
type.

Rules:
- a job that is missing, finished, of another type or held by a live worker is left alone
  (redelivery is a no-op); a job whose retry time has not come is put back on the queue
  for later; a delivery that arrives while the worker stops is put back unclaimed;
- the job is claimed with one optimistic update (`queued → running`) that also takes a
  lease, renewed on every save and by the lease renewal; losing the race means another
  worker has it; the use case stores the claim with its first save; a running job whose
  lease lapsed lost its worker and is taken over (resumed, or failed as poisoned when its
  attempts are used up);
- a store that is down ends the delivery quietly: the job's row still says what comes
  next, and the sweeper enqueues a queued job again or takes a running one over once its
  lease lapses;
- with model routing, a delivery may pass: its job goes back to the queue at once and
  the worker waits a moment before its next message, while every job waits for a busy
  worker that holds its model (ADR 0034);
- while a loaded job is handled, process log lines carry its step id (the caller binds
  the job id, which it knows before the job is read).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta

from dreamforge_core.domain.job import Job, JobState
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.errors import ConcurrentUpdate, Unavailable
from dreamforge_core.use_cases.abandoned import reclaim_abandoned
from dreamforge_core.use_cases.job_ports import JobPorts
from dreamforge_core.use_cases.lease_renewal import LeaseRenewal
from dreamforge_core.use_cases.model_routing import ModelRouting
from dreamforge_core.use_cases.progress_pacer import ProgressPacer
from dreamforge_core.use_cases.running_job import JobLimits, RunningJob
from dreamforge_core.use_cases.worker_gap import WorkerGap

#: The longest a worker waits before it looks at the queue again after passing its turn.
PASS_PAUSE_S = 0.25


class JobClaim:
    """Claims the jobs of one type for one use case; `progress_interval_s` paces the
    progress writes of the jobs it holds; `routing` (model routing, ADR 0034) chooses which
    queued job a turn takes, and without it the turn goes to the job that should start next.
    """

    def __init__(
        self,
        ports: JobPorts,
        retry: RetryPolicy,
        limits: JobLimits,
        *,
        job_type: str,
        progress_interval_s: float,
        routing: ModelRouting | None = None,
    ) -> None:
        self._ports = ports
        self._routing = routing
        self._retry = retry
        self._limits = limits
        self._job_type = job_type
        self._progress_interval_s = progress_interval_s
        self._renewal = LeaseRenewal(limits.lease_s / 3, ports.threads)
        self._gap = WorkerGap()

    @contextmanager
    def delivery(self, job_id: str) -> Iterator[RunningJob | None]:
        """The claimed job of one delivery of `job_id`, or None when there is nothing to run.
        A `ConcurrentUpdate` out of the block means another worker claimed or took the job
        over; it owns the outcome now."""
        p = self._ports
        try:
            turn = self._turn(job_id)
            job = p.repo.get(turn) if turn is not None else None
            if job is None or job.state.terminal or job.type != self._job_type:
                yield None  # a job of another type was sent to the wrong queue: its sweeper has it
                return
            with p.log_context.bound(step_id=job.step.id):
                now = p.clock.now()
                first_start = job.started_at is None
                run = self._claim(job, now)
                if run is None:
                    yield None
                    return
                if self._routing is not None:
                    self._routing.taking(job.model_id)
                try:
                    yield run
                except ConcurrentUpdate:
                    return
                finally:
                    self._gap.ended(job.finished_at or p.clock.now())
                    self._renewal.release(run)
                if first_start:
                    p.metrics.queue_wait((now - job.created_at).total_seconds())
        except Unavailable:
            return

    def _turn(self, job_id: str) -> str | None:
        """The job this delivery runs, or None when this worker passes its turn. A message
        is a turn in the queue: the turn goes to the queued job that should start now
        (highest priority, then oldest), which is the message's own job unless a job of
        higher priority, or an older one, waits; with routing, among the jobs of the highest
        priority, the one routing picks for this worker. A job that gives its turn away
        gets a new message, so every queued job keeps one."""
        p = self._ports
        now = p.clock.now()
        if self._routing is None:
            best = p.repo.next_queued(self._job_type, now)
        else:
            pick = self._routing.pick(p.repo, self._job_type, now)
            if pick.job_id is None and pick.wait_s is not None:
                self._pass(job_id, now, pick.wait_s)
                return None
            best = pick.job_id
        if best is None or best == job_id:
            return job_id
        self._send_again(job_id, now)
        return best

    def _send_again(self, job_id: str, now: datetime) -> None:
        """A new message for the job of a message whose turn went to another job."""
        p = self._ports
        passed = p.repo.get(job_id)
        if passed is not None and passed.state is JobState.QUEUED:
            due = passed.next_attempt_at
            p.queue.enqueue(job_id, max(0.0, (due - now).total_seconds()) if due else 0.0)

    def _pass(self, job_id: str, now: datetime, wait_s: float) -> None:
        """Every job at the front waits for a worker that holds its model warm: the message
        goes back to the queue at once (a warm worker that frees up takes it), and this
        worker waits until the first of those jobs has waited long enough to be its, or
        `PASS_PAUSE_S`, whichever comes first, before it takes its next message."""
        self._send_again(job_id, now)
        until = time.monotonic() + min(max(wait_s, 0.0), PASS_PAUSE_S)
        while not self._ports.stop.requested and (left := until - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))

    def run(
        self,
        job_id: str,
        work: Callable[[RunningJob], None],
        settle: Callable[[RunningJob, Exception], None],
    ) -> None:
        """One delivery of `job_id`: `work` runs the claimed job inside the attempt's trace
        span, and an error out of it goes to `settle` (retry, fail, or hand back on a stop)."""
        with self.delivery(job_id) as run:
            if run is None:
                return  # nothing to run now (see delivery)
            try:
                with self.traced(run):
                    work(run)
            except Exception as error:
                settle(run, error)

    def traced(self, run: RunningJob) -> AbstractContextManager[None]:
        """The trace span of the attempt's own work (its outcome is written outside it)."""
        job = run.job
        return self._ports.tracer.span(
            "dreamforge.job.attempt", job_id=job.id, job_type=job.type, attempt=job.attempts
        )

    def _claim(self, job: Job, now: datetime) -> RunningJob | None:
        p = self._ports
        abandoned = job.state is JobState.RUNNING and job.lease_expired(now)
        if job.state is JobState.RUNNING and not (abandoned and self._take_over(job, now)):
            return None
        if job.next_attempt_at is not None and job.next_attempt_at > now:
            p.queue.enqueue(job.id, (job.next_attempt_at - now).total_seconds())
            return None
        if p.stop.requested:
            p.queue.enqueue(job.id)  # for the next worker: this one is stopping
            return None
        if (gap := self._gap.started(job, now)) is not None:
            p.metrics.worker_gap(gap)
        lease_until = now + timedelta(seconds=self._limits.lease_s)
        job.start(now, self._limits.worker_id, lease_until)
        run = RunningJob(p, job, self._limits.lease_s, ProgressPacer(self._progress_interval_s))
        self._renewal.keep(run)
        return run

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
