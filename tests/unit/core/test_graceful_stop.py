"""A graceful stop hands the job back: at once, runnable now, without counting an attempt,
keeping the finished items; the next attempt resumes at the first unfinished one."""

from __future__ import annotations

from dreamforge_core.domain.job import ItemState, JobState
from dreamforge_core.errors import ProviderError
from dreamforge_core.ports.runner import GenerationRequest

from .conftest import Harness, HarnessFactory


class Stop:
    """The worker's stop signal, set by the test."""

    def __init__(self) -> None:
        self.requested = False
        self.overdue = False


def _stop_when(harness: Harness, index: int, stop: Stop, *, overdue: bool = False) -> None:
    def before(request: GenerationRequest) -> None:
        if request.item_index == index:
            stop.requested = True
            stop.overdue = overdue

    harness.runner.before_generate = before


def _restart(stop: Stop) -> None:
    """The next worker: it is not stopping."""
    stop.requested = stop.overdue = False


def test_a_stop_mid_item_finishes_the_item_then_hands_the_job_back(
    make_harness: HarnessFactory,
) -> None:
    stop = Stop()
    h = make_harness(stop=stop)
    _stop_when(h, 1, stop)
    job_id = h.create(count=4).job.id
    h.queue.restart()  # the test delivers by hand

    h.execute(job_id)

    job = h.job(job_id)
    assert job.state is JobState.QUEUED
    assert (job.attempts, job.step.attempts) == (0, 0)
    assert job.next_attempt_at is None
    assert job.lease_owner is None
    assert [i.state for i in job.items] == [ItemState.SUCCEEDED] * 2 + [ItemState.PENDING] * 2
    assert h.queue.enqueued == [(job_id, 0.0)]  # back on its queue at once, no backoff
    assert h.codes(job_id)[-1] == "job_handed_back"
    assert h.events(job_id)[-1].data == {"state": "queued"}

    _restart(stop)
    h.runner.before_generate = None
    h.settle()
    job = h.job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert job.attempts == 1
    assert h.runner.indices == [0, 1, 2, 3]  # no image generated twice
    assert sorted(a.item_index for a in h.repo.artifacts(job_id)) == [0, 1, 2, 3]


def test_stops_never_use_up_the_attempts(make_harness: HarnessFactory) -> None:
    stop = Stop()
    h = make_harness(stop=stop)
    job_id = h.create(count=6).job.id
    h.queue.restart()
    for index in range(5):  # more stops than max_attempts
        _stop_when(h, index, stop)
        h.execute(job_id)
        assert h.job(job_id).state is JobState.QUEUED
        _restart(stop)
    h.runner.before_generate = None
    h.execute(job_id)
    job = h.job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert job.attempts == 1
    assert h.runner.indices == [0, 1, 2, 3, 4, 5]


def test_past_the_drain_window_the_item_stops_at_its_next_step(
    make_harness: HarnessFactory,
) -> None:
    stop = Stop()
    h = make_harness(stop=stop)
    _stop_when(h, 1, stop, overdue=True)
    job_id = h.create(count=3).job.id
    h.queue.restart()

    h.execute(job_id)

    job = h.job(job_id)
    assert job.state is JobState.QUEUED
    assert job.attempts == 0
    assert [i.state for i in job.items] == [ItemState.SUCCEEDED] + [ItemState.PENDING] * 2
    assert [a.item_index for a in h.repo.artifacts(job_id)] == [0]
    assert "retry_scheduled" not in h.codes(job_id)
    _restart(stop)
    h.runner.before_generate = None
    h.execute(job_id)
    assert h.job(job_id).state is JobState.SUCCEEDED
    assert h.runner.indices == [0, 1, 1, 2]  # only the interrupted image ran again


def test_a_runner_failure_past_the_drain_window_is_the_stops_doing(
    make_harness: HarnessFactory,
) -> None:
    """The worker ended the runner's process at the deadline: not a failure of the job."""
    stop = Stop()
    h = make_harness(stop=stop)
    _stop_when(h, 0, stop, overdue=True)
    h.runner.fail_on(0, ProviderError("the runner process died (exit code -9)"))
    job_id = h.create(count=2).job.id
    h.queue.restart()

    h.execute(job_id)

    job = h.job(job_id)
    assert job.state is JobState.QUEUED
    assert job.attempts == 0
    assert job.step.last_error is None
    assert h.codes(job_id)[-1] == "job_handed_back"


def test_a_delivery_while_the_worker_stops_is_put_back_unclaimed(
    make_harness: HarnessFactory,
) -> None:
    stop = Stop()
    h = make_harness(stop=stop)
    job_id = h.create().job.id
    h.queue.restart()
    stop.requested = True

    h.execute(job_id)

    assert h.job(job_id).state is JobState.QUEUED
    assert "job_started" not in h.codes(job_id)
    assert h.queue.enqueued == [(job_id, 0.0)]
    assert h.runner.calls == []


def test_a_stop_during_the_last_item_lets_the_job_succeed(make_harness: HarnessFactory) -> None:
    stop = Stop()
    h = make_harness(stop=stop)
    _stop_when(h, 1, stop)
    job_id = h.create(count=2).job.id
    h.queue.restart()

    h.execute(job_id)

    assert h.job(job_id).state is JobState.SUCCEEDED
    assert "job_handed_back" not in h.codes(job_id)
