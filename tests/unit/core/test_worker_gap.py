from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dreamforge_core.domain.job import Job
from dreamforge_core.domain.params import GenerateParams
from dreamforge_core.use_cases.worker_gap import WorkerGap

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def make_job(created_at: datetime, attempts: int = 0) -> Job:
    job = Job.create(
        params=GenerateParams(prompt="p"), model_id="m", provider="local", now=created_at
    )
    job.attempts = attempts
    return job


def test_a_job_that_waited_through_the_last_end_measures_the_gap() -> None:
    gap = WorkerGap()
    gap.ended(T0)
    waiting = make_job(created_at=T0 - timedelta(seconds=5))
    assert gap.started(waiting, T0 + timedelta(milliseconds=3)) == 0.003


def test_the_first_job_an_idle_pickup_and_a_retry_measure_nothing() -> None:
    gap = WorkerGap()
    assert gap.started(make_job(created_at=T0), T0) is None  # nothing ended yet
    gap.ended(T0)
    idle = make_job(created_at=T0 + timedelta(seconds=1))
    assert gap.started(idle, T0 + timedelta(seconds=1.01)) is None
    retry = make_job(created_at=T0 - timedelta(seconds=5), attempts=1)
    assert gap.started(retry, T0 + timedelta(seconds=2)) is None


def test_the_latest_end_counts_when_threads_end_out_of_order() -> None:
    gap = WorkerGap()
    gap.ended(T0 + timedelta(seconds=2))
    gap.ended(T0)
    waiting = make_job(created_at=T0 - timedelta(seconds=1))
    assert gap.started(waiting, T0 + timedelta(seconds=2.5)) == 0.5
