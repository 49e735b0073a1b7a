"""Dead-letter requeue: a failed, parked job runs again from its first unfinished item."""

from __future__ import annotations

from dreamforge_adapters.memory import MemoryDeadLetterQueue
from dreamforge_core.domain.job import ItemState, JobState
from dreamforge_core.errors import ProviderError
from dreamforge_core.use_cases.requeue_dead_letters import Requeued, RequeueDeadLetters

from .conftest import Harness


def _parked(harness: Harness) -> tuple[str, MemoryDeadLetterQueue, RequeueDeadLetters]:
    harness.runner.fail_on(1, ProviderError("runner crashed"), times=3)
    job_id = harness.create(count=3).job.id
    harness.settle()
    assert harness.job(job_id).state is JobState.FAILED
    dlq = MemoryDeadLetterQueue(harness.queue, harness.clock)
    for parked_id, reason in harness.queue.dead_letters:
        dlq.park(parked_id, reason)
    requeue = RequeueDeadLetters(harness.repo, harness.bus, harness.clock, {"gpu": dlq})
    return job_id, dlq, requeue


def test_a_requeued_job_is_reopened_and_resumes_at_its_failed_item(harness: Harness) -> None:
    job_id, dlq, requeue = _parked(harness)

    assert requeue([job_id]) == [Requeued(job_id, "gpu", reopened=True)]

    job = harness.job(job_id)
    assert job.state is JobState.QUEUED
    assert job.error is None
    assert job.finished_at is None
    assert [i.state for i in job.items] == [
        ItemState.SUCCEEDED,
        ItemState.PENDING,
        ItemState.PENDING,
    ]
    [reopened] = [e for e in harness.events(job_id) if e.code == "job_reopened"]
    assert reopened.data["previous_error"]["code"] == "provider_error"
    assert dlq.dead_letters() == []

    harness.settle()

    job = harness.job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert job.attempts == harness.retry.max_attempts + 1  # one more attempt, not a new budget
    assert [a.item_index for a in harness.repo.artifacts(job_id)] == [0, 1, 2]
    assert harness.codes(job_id)[-2:] == ["job_succeeded", "end"]


def test_an_unfixed_cause_fails_the_reopened_job_again_at_once(harness: Harness) -> None:
    harness.runner.fail_on(0, ProviderError("still broken"), times=None)
    job_id = harness.create(count=1).job.id
    harness.settle()
    dlq = MemoryDeadLetterQueue(harness.queue, harness.clock)
    dlq.park(job_id, "provider_error: still broken")
    RequeueDeadLetters(harness.repo, harness.bus, harness.clock, {"gpu": dlq})()

    harness.settle()

    job = harness.job(job_id)
    assert job.state is JobState.FAILED
    assert job.attempts == harness.retry.max_attempts + 1
    assert [j for j, _ in harness.queue.dead_letters] == [job_id, job_id]


def test_only_parked_jobs_are_touched(harness: Harness) -> None:
    job_id, dlq, requeue = _parked(harness)
    other = harness.create(count=1).job.id

    assert requeue(["not-parked", other]) == []
    assert harness.job(job_id).state is JobState.FAILED
    assert [d.job_id for d in dlq.dead_letters()] == [job_id]


def test_a_parked_job_that_is_not_failed_is_sent_back_unchanged(harness: Harness) -> None:
    job_id, dlq, requeue = _parked(harness)
    requeue()
    dlq.park(job_id, "a stale entry")  # the job is queued again already

    assert requeue() == [Requeued(job_id, "gpu", reopened=False)]
    assert [c for c in harness.codes(job_id) if c == "job_reopened"] == ["job_reopened"]
