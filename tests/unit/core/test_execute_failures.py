"""Failures while executing (FR-012, FR-013, NFR-010, NFR-013): retry, fail, dead-letter."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dreamforge_adapters.memory import MemoryBlobStore
from dreamforge_core.domain.artifact import job_prefix
from dreamforge_core.domain.clock import parse_iso
from dreamforge_core.domain.job import ItemState, JobState
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.errors import (
    OutOfMemory,
    PermanentStorageError,
    ProviderError,
    StepTimeout,
)
from tests.support.job_checks import assert_failed_with

from .conftest import Harness, HarnessFactory, StubRunner, make_model


def test_a_transient_failure_is_retried_and_resumes_at_the_failed_item(harness: Harness) -> None:
    harness.runner.fail_on(1, ProviderError("runner crashed"), times=1)
    job_id = harness.create(count=3).job.id
    harness.queue.run_due()

    job = harness.job(job_id)
    assert job.state is JobState.QUEUED
    assert job.attempts == 1
    assert job.step.last_error is not None
    assert job.step.last_error.code == "provider_error"
    assert job.error is None
    assert job.next_attempt_at is not None
    assert job.next_attempt_at > harness.clock.now()
    assert [i.state for i in job.items] == [
        ItemState.SUCCEEDED,
        ItemState.PENDING,
        ItemState.PENDING,
    ]
    [retry] = [e for e in harness.events(job_id) if e.code == "retry_scheduled"]
    assert retry.data["error"]["code"] == "provider_error"
    assert retry.data["attempt"] == 1
    assert retry.level == "warning"
    # Enqueued twice: on creation, then with the backoff delay.
    (_, first_delay), (_, retry_delay) = harness.queue.enqueued[:2]
    assert first_delay == 0.0
    assert 0 < retry_delay <= harness.retry.max_delay_s
    assert len(harness.repo.artifacts(job_id)) == 1

    harness.settle()

    job = harness.job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert job.attempts == 2
    artifacts = harness.repo.artifacts(job_id)
    assert [a.item_index for a in artifacts] == [0, 1, 2]
    assert harness.runner.indices == [0, 1, 1, 2]  # item 0 was not generated again
    assert artifacts[0].seed == harness.seeds.drawn[0]
    assert artifacts[1].seed == harness.seeds.drawn[2]  # the retried item drew a fresh seed
    assert harness.queue.dead_letters == []


def test_a_delivery_before_the_retry_time_puts_the_job_back(harness: Harness) -> None:
    harness.runner.fail_on(0, StepTimeout("too slow"), times=1)
    job_id = harness.create(count=1).job.id
    harness.queue.run_due()
    retry_at = harness.job(job_id).next_attempt_at
    assert retry_at is not None

    harness.clock.advance(0.001)
    before = len(harness.events(job_id))
    harness.execute(job_id)  # an early redelivery

    assert harness.job(job_id).state is JobState.QUEUED
    assert len(harness.runner.calls) == 1
    assert len(harness.events(job_id)) == before
    job_id_again, delay = harness.queue.enqueued[-1]
    assert job_id_again == job_id
    assert delay == pytest.approx((retry_at - harness.clock.now()).total_seconds(), abs=1e-3)


def test_a_failure_on_every_attempt_fails_after_max_attempts_and_is_dead_lettered(
    harness: Harness,
) -> None:
    harness.runner.fail_on(0, ProviderError("always broken"), times=None)
    job_id = harness.create(count=2).job.id
    harness.settle()

    job = harness.job(job_id)
    assert len(harness.runner.calls) == harness.retry.max_attempts == 3
    assert_failed_with(job, "provider_error")
    assert job.attempts == 3
    assert job.step.last_error == job.error
    codes = harness.codes(job_id)
    assert codes.count("retry_scheduled") == 2
    assert codes.count("job_started") == 3
    assert codes[-2:] == ["job_failed", "end"]
    assert harness.queue.dead_letters == [(job_id, "provider_error: always broken")]
    assert harness.repo.artifacts(job_id) == []


def test_backoff_grows_between_attempts(make_harness: HarnessFactory) -> None:
    h = make_harness(retry=RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=1.0))
    h.runner.fail_on(0, ProviderError("x"), times=None)
    job_id = h.create().job.id
    h.settle()
    retry_delays = [
        (parse_iso(e.data["retry_at"]) - e.ts).total_seconds()
        for e in h.events(job_id)
        if e.code == "retry_scheduled"
    ]
    assert len(retry_delays) == 3
    for n, delay in enumerate(retry_delays, start=1):
        ceiling = 0.01 * 2 ** (n - 1)
        assert ceiling / 2 - 1e-6 <= delay <= ceiling + 1e-6  # iso() keeps microseconds
    assert h.job(job_id).attempts == 4


def test_out_of_memory_fails_at_once_without_retry(harness: Harness) -> None:
    harness.runner.fail_on(1, OutOfMemory("CUDA out of memory"), times=1)
    job_id = harness.create(count=3).job.id
    harness.settle()

    job = harness.job(job_id)
    assert_failed_with(job, "oom")
    assert job.attempts == 1
    assert harness.runner.indices == [0, 1]
    assert "retry_scheduled" not in harness.codes(job_id)
    assert harness.queue.dead_letters == []
    # NFR-013: the batch fails, the finished item stays retrievable.
    assert [a.item_index for a in harness.repo.artifacts(job_id)] == [0]
    assert [i.state for i in job.items] == [
        ItemState.SUCCEEDED,
        ItemState.FAILED,
        ItemState.PENDING,
    ]
    [failed] = [e for e in harness.events(job_id) if e.code == "job_failed"]
    assert failed.data["error"]["code"] == "oom"
    assert failed.level == "error"


def test_an_unexpected_exception_fails_as_internal_and_is_dead_lettered(harness: Harness) -> None:
    harness.runner.fail_on(0, RuntimeError("bug in the runner"), times=1)
    job_id = harness.create(count=2).job.id
    harness.settle()

    job = harness.job(job_id)
    error = assert_failed_with(job, "internal")
    assert "bug in the runner" in error.message
    assert len(harness.runner.calls) == 1
    [(dead_id, reason)] = harness.queue.dead_letters
    assert dead_id == job_id
    assert reason.startswith("internal: ")


def test_a_storage_failure_is_retried_then_succeeds(make_harness: HarnessFactory) -> None:
    blobs = MemoryBlobStore()
    h = make_harness(blobs=blobs)
    job_id = h.create(count=3).job.id
    blobs.fail_next_puts = 1
    h.settle()

    job = h.job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert job.attempts == 2
    [retry] = [e for e in h.events(job_id) if e.code == "retry_scheduled"]
    assert retry.data["error"]["code"] == "storage_error"
    artifacts = h.repo.artifacts(job_id)
    assert [a.item_index for a in artifacts] == [0, 1, 2]
    assert sorted(blobs.blobs) == sorted(a.key for a in artifacts)


def test_a_permanent_storage_failure_fails_the_job_at_once(make_harness: HarnessFactory) -> None:
    class RefusingStore(MemoryBlobStore):
        def put(self, key: str, data: bytes, content_type: str) -> None:
            raise PermanentStorageError(f"could not store {key}: AccessDenied")

    h = make_harness(blobs=RefusingStore())
    job_id = h.create(count=1).job.id
    h.settle()

    job = h.job(job_id)
    error = assert_failed_with(job, "storage_error")
    assert job.attempts == 1
    assert "AccessDenied" in error.message
    assert [e for e in h.events(job_id) if e.code == "retry_scheduled"] == []
    assert len(h.runner.calls) == 1  # the image was not generated again for each attempt
    # dead-lettered, so an operator can run it again once the storage is fixed
    [(dead_id, reason)] = h.queue.dead_letters
    assert (dead_id, reason.split(":")[0]) == (job_id, "storage_error")


def test_a_store_that_raises_a_foreign_error_is_a_storage_error(
    make_harness: HarnessFactory,
) -> None:
    class FlakyStore(MemoryBlobStore):
        def __init__(self) -> None:
            super().__init__()
            self.failures = 1

        def put(self, key: str, data: bytes, content_type: str) -> None:
            if self.failures:
                self.failures -= 1
                raise ConnectionResetError("peer went away")
            super().put(key, data, content_type)

    h = make_harness(blobs=FlakyStore())
    job_id = h.create(count=1).job.id
    h.queue.run_due()
    job = h.job(job_id)
    assert job.state is JobState.QUEUED
    assert job.step.last_error is not None
    assert job.step.last_error.code == "storage_error"
    h.settle()
    assert h.job(job_id).state is JobState.SUCCEEDED


def test_orphan_blobs_of_a_dead_attempt_are_deleted_on_resume(make_harness: HarnessFactory) -> None:
    """A blob stored without its artifact row (the attempt died in between) is removed."""

    class StoreThenFail(MemoryBlobStore):
        """Stores item 1's blob, then fails, as if the worker died before recording it."""

        def __init__(self) -> None:
            super().__init__()
            self.armed = True

        def put(self, key: str, data: bytes, content_type: str) -> None:
            super().put(key, data, content_type)
            if self.armed and "_1_" in key.rsplit("/", 1)[-1]:
                self.armed = False
                raise ProviderError("lost the connection after the upload")

    blobs = StoreThenFail()
    h = make_harness(blobs=blobs)
    job_id = h.create(count=3).job.id
    h.queue.run_due()
    orphans = [k for k in blobs.blobs if k not in {a.key for a in h.repo.artifacts(job_id)}]
    assert len(orphans) == 1
    other_job = h.create(count=1).job.id  # another job's blobs are not touched
    h.settle()

    artifacts = h.repo.artifacts(job_id)
    assert h.job(job_id).state is JobState.SUCCEEDED
    assert [a.item_index for a in artifacts] == [0, 1, 2]
    assert orphans[0] not in blobs.blobs
    own = blobs.list_keys(job_prefix("default", job_id))
    assert own == sorted(a.key for a in artifacts)
    assert blobs.list_keys(job_prefix("default", other_job)) == [
        a.key for a in h.repo.artifacts(other_job)
    ]


def test_a_model_uninstalled_after_creation_fails_the_job_as_invalid_input(
    harness: Harness,
) -> None:
    job_id = harness.create(count=2).job.id
    harness.registry.upsert(replace(make_model(), installed=False))
    harness.settle()

    job = harness.job(job_id)
    assert_failed_with(job, "invalid_input")
    assert harness.runner.calls == []
    assert harness.queue.dead_letters == []


def test_a_timeout_is_retried_like_any_transient_failure(make_harness: HarnessFactory) -> None:
    runner = StubRunner()
    runner.fail_on(0, StepTimeout("step exceeded 300 s"), times=2)
    h = make_harness(runner=runner)
    job_id = h.create().job.id
    h.settle()
    job = h.job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert job.attempts == 3
    assert h.codes(job_id).count("retry_scheduled") == 2
