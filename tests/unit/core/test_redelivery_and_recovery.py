"""At-least-once delivery and crash recovery: a job runs once and resumes where it stopped."""

from __future__ import annotations

import pytest

from dreamforge_adapters.memory import MemoryBlobStore
from dreamforge_core.domain.job import ItemState, JobState
from dreamforge_core.errors import ProviderError
from dreamforge_core.ports.runner import GenerationRequest
from dreamforge_core.use_cases.recover_jobs import RecoverJobs
from tests.support.job_checks import assert_failed_with

from .conftest import Harness, HarnessFactory


class Crash(BaseException):
    """The worker process dies: not an Exception, so RunGenerateJob cannot record anything."""


def recover(h: Harness) -> int:
    return RecoverJobs(h.repo, h.queue, h.bus, h.clock, h.retry, assume_dead=True)()


def test_a_finished_job_delivered_again_is_a_no_op(harness: Harness) -> None:
    job_id = harness.create(count=2).job.id
    harness.queue.run_due()
    before = harness.events(job_id)
    harness.execute(job_id)
    harness.queue.enqueue(job_id)
    harness.queue.run_due()
    assert harness.events(job_id) == before
    assert len(harness.runner.calls) == 2
    assert harness.job(job_id).attempts == 1


def test_a_failed_job_delivered_again_is_a_no_op(harness: Harness) -> None:
    harness.runner.fail_on(0, RuntimeError("bug"), times=1)
    job_id = harness.create().job.id
    harness.queue.run_due()
    before = harness.events(job_id)
    harness.execute(job_id)
    assert harness.events(job_id) == before
    assert harness.job(job_id).state is JobState.FAILED
    assert len(harness.queue.dead_letters) == 1


def test_an_unknown_job_id_is_ignored(harness: Harness) -> None:
    harness.execute("0" * 26)
    assert harness.runner.calls == []
    assert harness.queue.enqueued == []


def test_two_deliveries_of_one_queued_job_run_it_once(harness: Harness) -> None:
    job_id = harness.create(count=3).job.id
    harness.queue.enqueue(job_id)  # a duplicate message
    assert harness.queue.run_due() == 2
    assert harness.runner.indices == [0, 1, 2]
    assert harness.codes(job_id).count("job_started") == 1
    assert harness.job(job_id).attempts == 1
    assert len(harness.repo.artifacts(job_id)) == 3


def test_a_delivery_while_the_job_runs_elsewhere_is_ignored(harness: Harness) -> None:
    """A redelivery that arrives mid-run sees `running` and leaves the job to its owner."""
    seen: list[JobState] = []

    def deliver_again(request: GenerationRequest) -> None:
        if request.item_index == 0:
            harness.execute(request.job_id)
            seen.append(harness.job(request.job_id).state)

    harness.runner.before_generate = deliver_again
    job_id = harness.create(count=2).job.id
    harness.queue.run_due()
    assert seen == [JobState.RUNNING]
    assert harness.runner.indices == [0, 1]
    assert harness.codes(job_id).count("job_started") == 1
    assert harness.job(job_id).state is JobState.SUCCEEDED


def test_a_job_interrupted_mid_batch_is_requeued_and_completes(harness: Harness) -> None:
    harness.runner.fail_on(2, Crash(), times=1)
    job_id = harness.create(count=4).job.id
    with pytest.raises(Crash):
        harness.queue.run_due()

    stranded = harness.job(job_id)
    assert stranded.state is JobState.RUNNING
    assert [i.state for i in stranded.items] == [
        ItemState.SUCCEEDED,
        ItemState.SUCCEEDED,
        ItemState.RUNNING,
        ItemState.PENDING,
    ]
    done_before = [(a.item_index, a.key, a.seed) for a in harness.repo.artifacts(job_id)]
    assert [i for i, _, _ in done_before] == [0, 1]

    assert recover(harness) == 1
    requeued = harness.job(job_id)
    assert requeued.state is JobState.QUEUED
    assert requeued.items[2].state is ItemState.PENDING
    assert harness.codes(job_id)[-1] == "job_requeued"

    harness.settle()
    job = harness.job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert job.attempts == 2
    assert harness.runner.indices == [0, 1, 2, 2, 3]  # items 0 and 1 were not redone
    artifacts = harness.repo.artifacts(job_id)
    assert [a.item_index for a in artifacts] == [0, 1, 2, 3]
    assert [(a.item_index, a.key, a.seed) for a in artifacts[:2]] == done_before
    assert sorted(harness.blobs.blobs) == sorted(a.key for a in artifacts)


def test_a_job_that_keeps_killing_its_worker_fails_and_is_dead_lettered(
    harness: Harness,
) -> None:
    harness.runner.fail_on(0, Crash(), times=harness.retry.max_attempts)
    job_id = harness.create().job.id
    for attempt in range(1, harness.retry.max_attempts + 1):
        with pytest.raises(Crash):
            harness.queue.run_due()
        assert harness.job(job_id).attempts == attempt
        recover(harness)

    job = harness.job(job_id)
    assert_failed_with(job, "provider_error")
    assert [j for j, _ in harness.queue.dead_letters] == [job_id]
    assert harness.queue.run_due() == 0  # nothing left to loop on


def test_a_blob_stored_just_before_a_crash_is_deleted_on_resume(
    make_harness: HarnessFactory,
) -> None:
    class CrashAfterStoring(MemoryBlobStore):
        def __init__(self) -> None:
            super().__init__()
            self.crash_on_put = 2

        def put(self, key: str, data: bytes, content_type: str) -> None:
            super().put(key, data, content_type)
            self.crash_on_put -= 1
            if self.crash_on_put == 0:
                raise Crash

    blobs = CrashAfterStoring()
    h = make_harness(blobs=blobs)
    job_id = h.create(count=3).job.id
    with pytest.raises(Crash):
        h.queue.run_due()
    [orphan] = [k for k in blobs.blobs if k not in {a.key for a in h.repo.artifacts(job_id)}]

    recover(h)
    h.settle()

    assert h.job(job_id).state is JobState.SUCCEEDED
    assert orphan not in blobs.blobs
    assert sorted(blobs.blobs) == sorted(a.key for a in h.repo.artifacts(job_id))
    assert len(blobs.blobs) == 3


def test_recovery_enqueues_queued_jobs_and_leaves_finished_ones(harness: Harness) -> None:
    finished = harness.create().job.id
    harness.queue.run_due()
    lost = harness.create().job.id  # stored, but its message dies with the process
    harness.queue.restart()

    assert recover(harness) == 1
    assert harness.queue.enqueued == [(lost, 0.0)]
    harness.settle()
    assert harness.job(lost).state is JobState.SUCCEEDED
    assert harness.job(finished).attempts == 1


def test_recovery_keeps_a_pending_retry_time(harness: Harness) -> None:
    harness.runner.fail_on(0, ProviderError("flaky"), times=1)
    job_id = harness.create().job.id
    harness.queue.run_due()
    retry_at = harness.job(job_id).next_attempt_at
    assert retry_at is not None
    harness.queue.restart()

    assert recover(harness) == 1
    [(recovered, delay)] = harness.queue.enqueued
    assert recovered == job_id
    assert delay == pytest.approx((retry_at - harness.clock.now()).total_seconds())
    assert harness.job(job_id).next_attempt_at == retry_at
    assert harness.job(job_id).state is JobState.QUEUED

    harness.clock.advance(3600)
    assert recover(harness) == 1
    assert harness.queue.enqueued[-1] == (job_id, 0.0)  # already due
