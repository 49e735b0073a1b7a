"""Priority: queued jobs start highest priority first and oldest first within one, whichever
job's message a worker receives; a job's queue position counts the jobs that start before it."""

from __future__ import annotations

import pytest

from dreamforge_core.domain.job import JobState
from dreamforge_core.errors import InvalidInput

from .conftest import SMALL, Harness

ORDER = ["low", "normal", "high", "normal", "high", "low", "normal"]


def _create(h: Harness, priority: str | None) -> str:
    body: dict[str, object] = {"params": {"prompt": "p", **SMALL, "count": 1}}
    if priority is not None:
        body["priority"] = priority
    h.clock.advance(0.001)  # one creation after the other, as requests arrive
    return h.create(body=body).job.id


def _expected(ids: list[str], priorities: list[str]) -> list[str]:
    rank = {"high": 0, "normal": 1, "low": 2}
    return [
        i
        for _, _, i in sorted(
            (rank[p], n, i) for n, (i, p) in enumerate(zip(ids, priorities, strict=True))
        )
    ]


def test_queued_jobs_start_by_priority_then_by_age(harness: Harness) -> None:
    ids = [_create(harness, p) for p in ORDER]
    harness.settle()  # delivers the messages in the order they were sent
    started = list(dict.fromkeys(r.job_id for r in harness.runner.calls))
    assert started == _expected(ids, ORDER)
    assert all(harness.job(i).state is JobState.SUCCEEDED for i in ids)


def test_every_passed_over_job_keeps_a_message(harness: Harness) -> None:
    ids = [_create(harness, p) for p in ORDER]
    harness.settle()
    runs = [r.job_id for r in harness.runner.calls]
    assert sorted(runs) == sorted(ids)  # each job ran, once


def test_the_queue_position_counts_the_jobs_that_start_before(harness: Harness) -> None:
    ids = [_create(harness, p) for p in ORDER]
    expected = _expected(ids, ORDER)
    positions = {i: harness.repo.jobs_ahead(harness.job(i)) for i in ids}
    assert sorted(ids, key=positions.__getitem__) == expected
    assert sorted(positions.values()) == list(range(len(ids)))


def test_a_job_waiting_for_its_retry_time_does_not_hold_the_queue(harness: Harness) -> None:
    from dreamforge_core.errors import ProviderError

    harness.runner.fail_on(0, ProviderError("the runner crashed"), times=1)
    first = _create(harness, "high")
    harness.queue.run_due()  # it fails and waits for its retry time
    assert harness.job(first).next_attempt_at is not None
    later = _create(harness, "low")
    assert harness.repo.next_queued("generate", harness.clock.now()) == later


def test_an_unknown_priority_is_refused(harness: Harness) -> None:
    with pytest.raises(InvalidInput) as refused:
        _create(harness, "urgent")
    assert [e["field"] for e in refused.value.details["errors"]] == ["priority"]
    assert harness.job_count() == 0
