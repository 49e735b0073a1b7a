"""Cancel: a queued job never runs, a running job stops at its runner's next step and keeps
its finished items, a cancel is idempotent, and a finished job cannot be canceled."""

from __future__ import annotations

import time

import pytest

from dreamforge_core.domain.events import EventKind
from dreamforge_core.domain.job import ItemState, JobState
from dreamforge_core.errors import InvalidState, NotFound
from dreamforge_core.ports.runner import GenerationRequest

from .conftest import Harness


def test_a_queued_job_is_canceled_at_once_and_its_delivery_runs_nothing(
    harness: Harness,
) -> None:
    job_id = harness.create(count=2).job.id

    canceled = harness.cancel_job(job_id)

    assert canceled.state is JobState.CANCELED
    assert canceled.error is None
    assert harness.job(job_id).state is JobState.CANCELED
    harness.settle()  # the queued message is delivered, and dropped
    assert harness.runner.calls == []
    assert harness.job(job_id).state is JobState.CANCELED
    assert harness.codes(job_id)[-2:] == ["job_canceled", "end"]


def test_a_running_job_stops_at_the_next_step_and_keeps_its_finished_items(
    harness: Harness,
) -> None:
    job_id = harness.create(count=4, steps=4).job.id

    def item_0_stored() -> bool:
        return harness.job(job_id).items[0].state is ItemState.SUCCEEDED

    def cancel_during_item_2(request: GenerationRequest) -> None:
        if request.item_index == 2:
            deadline = time.monotonic() + 5
            while not item_0_stored():  # item 0 is stored on a thread of its own
                assert time.monotonic() < deadline
                time.sleep(0.001)
            harness.cancel_job(job_id)

    harness.runner.before_generate = cancel_during_item_2
    harness.settle()

    job = harness.job(job_id)
    assert job.state is JobState.CANCELED
    assert harness.runner.indices == [0, 1, 2]  # item 3 never started
    assert job.items[0].state is ItemState.SUCCEEDED
    assert job.items[2].state is job.items[3].state is ItemState.PENDING
    stored = harness.repo.artifacts(job_id)
    assert [a.item_index for a in stored] == [
        i.index for i in job.items if i.state is ItemState.SUCCEEDED
    ]
    # An image whose record lost the race with the cancel leaves no file behind.
    assert sorted(harness.blobs.list_keys("")) == sorted(a.key for a in stored)
    events = harness.events(job_id)
    assert [e.code for e in events if e.kind is EventKind.STATE][-1] == "job_canceled"
    assert events[-1].kind is EventKind.END
    assert harness.queue.dead_letters == []


def test_a_cancel_is_idempotent(harness: Harness) -> None:
    job_id = harness.create().job.id
    first = harness.cancel_job(job_id)
    again = harness.cancel_job(job_id)
    assert again.state is JobState.CANCELED
    assert again.finished_at == first.finished_at
    assert harness.codes(job_id).count("job_canceled") == 1


def test_a_finished_job_cannot_be_canceled(harness: Harness) -> None:
    job_id = harness.create().job.id
    harness.settle()
    assert harness.job(job_id).state is JobState.SUCCEEDED

    with pytest.raises(InvalidState, match="succeeded") as refused:
        harness.cancel_job(job_id)
    assert refused.value.code == "invalid_state"
    assert harness.job(job_id).state is JobState.SUCCEEDED


def test_an_unknown_job_is_not_found(harness: Harness) -> None:
    with pytest.raises(NotFound):
        harness.cancel_job("nope")


def test_recovery_never_resumes_a_canceled_job(harness: Harness) -> None:
    from dreamforge_core.use_cases.recover_jobs import RecoverJobs

    job_id = harness.create().job.id
    harness.cancel_job(job_id)
    harness.queue.restart()  # the process restarted: its messages are gone
    recover = RecoverJobs(
        harness.repo, harness.queue, harness.bus, harness.clock, harness.retry, assume_dead=True
    )

    assert recover() == 0
    assert harness.queue.enqueued == []
    assert harness.job(job_id).state is JobState.CANCELED


def test_an_image_whose_record_meets_the_cancel_leaves_no_file(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = harness.create(count=2).job.id
    put = harness.blobs.put

    def put_then_cancel(key: str, data: bytes, content_type: str) -> None:
        put(key, data, content_type)
        if "_1_" in key.rsplit("/", 1)[-1]:  # item 1's file is stored, its record not yet
            harness.cancel_job(job_id)

    monkeypatch.setattr(harness.blobs, "put", put_then_cancel)
    harness.settle()

    assert harness.job(job_id).state is JobState.CANCELED
    stored = harness.repo.artifacts(job_id)
    assert [a.item_index for a in stored] == [0]
    assert harness.blobs.list_keys("") == [stored[0].key]
