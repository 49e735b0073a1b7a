"""Leases: a running job belongs to a live worker; a lapsed lease means its worker is gone."""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta

from dreamforge_core.domain.job import JobState
from dreamforge_core.use_cases.recover_jobs import RecoverJobs
from dreamforge_core.use_cases.run_generate_job import JobLimits, RunGenerateJob

from .conftest import Harness


class Crash(BaseException):
    """The worker dies without recording anything."""


def _stranded(harness: Harness, count: int = 3) -> str:
    harness.runner.fail_on(1, Crash(), times=1)
    job_id = harness.create(count=count).job.id
    with contextlib.suppress(Crash):
        harness.queue.run_due()
    assert harness.job(job_id).state is JobState.RUNNING
    return job_id


def test_claiming_takes_a_lease_and_finishing_releases_it(harness: Harness) -> None:
    leases: list[object] = []
    harness.runner.before_generate = lambda _: leases.append(harness.job(job_id).lease_expires_at)
    job_id = harness.create(count=2).job.id
    harness.queue.run_due()
    assert all(lease is not None for lease in leases)
    job = harness.job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert job.lease_owner is None
    assert job.lease_expires_at is None


def test_a_delivery_while_the_lease_is_live_leaves_the_job_alone(harness: Harness) -> None:
    job_id = _stranded(harness)
    before = harness.codes(job_id)
    harness.execute(job_id)
    assert harness.codes(job_id) == before
    assert harness.job(job_id).state is JobState.RUNNING


def test_a_delivery_after_the_lease_lapsed_takes_the_job_over(harness: Harness) -> None:
    job_id = _stranded(harness)
    harness.clock.advance(3600)
    harness.execute(job_id)
    job = harness.job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert "job_requeued" in harness.codes(job_id)
    assert harness.runner.indices == [0, 1, 1, 2]  # item 0 was not generated again


def test_the_sweeper_reclaims_only_lapsed_leases(harness: Harness) -> None:
    job_id = _stranded(harness)
    sweep = RecoverJobs(harness.repo, harness.queue, harness.bus, harness.clock, harness.retry)
    assert sweep() == 0
    assert harness.job(job_id).state is JobState.RUNNING
    harness.clock.advance(3600)
    assert sweep() == 1
    assert harness.job(job_id).state is JobState.QUEUED
    harness.settle()
    assert harness.job(job_id).state is JobState.SUCCEEDED


def test_the_sweeper_enqueues_a_queued_job_that_was_never_enqueued(harness: Harness) -> None:
    job_id = harness.create().job.id
    while harness.queue._pop_due() is not None:  # the message is lost
        pass
    sweep = RecoverJobs(
        harness.repo, harness.queue, harness.bus, harness.clock, harness.retry, grace_s=30
    )
    assert sweep() == 0  # too recent: it may still be on its way
    harness.clock.advance(31)
    assert sweep() == 1
    harness.queue.run_due()
    assert harness.job(job_id).state is JobState.SUCCEEDED


def test_lease_is_renewed_as_the_job_makes_progress(harness: Harness) -> None:
    seen: list[object] = []

    def watch(request: object) -> None:
        harness.clock.advance(20)
        seen.append(harness.job(job_id).lease_expires_at)

    harness.runner.before_generate = watch
    job_id = harness.create(count=3).job.id
    harness.queue.run_due()
    assert len(seen) == 3
    assert seen[0] < seen[1] < seen[2]  # type: ignore[operator]
    assert seen[2] - seen[0] >= timedelta(seconds=40)  # type: ignore[operator]


def test_a_silent_runner_keeps_its_lease_through_the_lease_renewal(harness: Harness) -> None:
    execute = RunGenerateJob(
        harness.ports,
        harness.retry,
        generator="test",
        limits=JobLimits(lease_s=0.06),  # beats every 20 ms
    )
    seen: list[object] = []

    def silent(request: object) -> None:
        first = harness.job(job_id).lease_expires_at
        harness.clock.advance(30)
        time.sleep(0.2)  # no progress, no save: only the keeper renews the lease
        seen.extend([first, harness.job(job_id).lease_expires_at])

    harness.runner.before_generate = silent
    job_id = harness.create(count=1).job.id
    execute(job_id)
    assert seen[1] > seen[0]  # type: ignore[operator]
    assert harness.job(job_id).state is JobState.SUCCEEDED
