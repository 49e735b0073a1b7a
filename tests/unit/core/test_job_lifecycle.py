"""The Job aggregate's lifecycle, as a hypothesis state machine plus a few worked examples.

The machine calls every transition in every state and checks it against a model of the
documented lifecycle: `queued → running → succeeded | failed`, and `running → queued` for a
retry, an interrupted run or a graceful stop (which takes its attempt back).

It is one module because the state machine and the examples check the same aggregate, and
the examples read as the machine's worked cases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from dreamforge_core.domain.artifact import Artifact
from dreamforge_core.domain.events import EventKind
from dreamforge_core.domain.job import ErrorInfo, ItemState, Job, JobState
from dreamforge_core.domain.params import GenerateParams
from dreamforge_core.domain.progress import STAGE_WEIGHTS, item_progress
from dreamforge_core.errors import InvalidTransition

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STAGES = list(STAGE_WEIGHTS["generate"])
ALLOWED = {
    (JobState.QUEUED, JobState.RUNNING),
    (JobState.RUNNING, JobState.SUCCEEDED),
    (JobState.RUNNING, JobState.FAILED),
    (JobState.RUNNING, JobState.QUEUED),
}
# State events and the state each one announces: replaying them gives the current state.
STATE_EVENTS = {
    "job_created": JobState.QUEUED,
    "job_started": JobState.RUNNING,
    "retry_scheduled": JobState.QUEUED,
    "job_requeued": JobState.QUEUED,
    "job_handed_back": JobState.QUEUED,
    "job_succeeded": JobState.SUCCEEDED,
    "job_failed": JobState.FAILED,
}


def new_job(count: int = 2, seed: int | None = None) -> Job:
    return Job.create(
        params=GenerateParams(prompt="p", count=count, seed=seed),
        model_id="m",
        provider="local-sdxl-epicrealism",
        now=T0,
    )


def artifact_for(job: Job, index: int, now: datetime) -> Artifact:
    seed = job.items[index].seed or 0  # a pending item has none; finish_item must refuse it
    return Artifact(
        id=f"a{index}-{now.timestamp()}",
        job_id=job.id,
        step="generate",
        item_index=index,
        key=f"k/{index}/{seed}",
        content_type="image/png",
        format="png",
        width=8,
        height=8,
        seed=seed,
        size_bytes=1,
        sha256="0" * 64,
        created_at=now,
    )


def snapshot(job: Job) -> tuple[Any, ...]:
    """Everything a transition could change."""
    return (
        job.state,
        job.step.state,
        job.attempts,
        job.step.attempts,
        job.error,
        job.step.last_error,
        job.started_at,
        job.finished_at,
        job.step.started_at,
        job.step.finished_at,
        job.next_attempt_at,
        job.updated_at,
        tuple(
            (i.state, i.seed, tuple(sorted(i.stages.items())), i.started_at, i.finished_at)
            for i in job.items
        ),
        tuple(job.pending_events),
        tuple(job.new_artifacts),
    )


class JobLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.job: Job = new_job()
        self.now = T0
        self.starts = 0  # attempts that count: starts less graceful stops
        self.first_start: datetime | None = None
        self.finished: dict[int, int | None] = {}  # index -> seed of every finished item

    @initialize(count=st.integers(1, 3))
    def create(self, count: int) -> None:
        self.job = new_job(count)
        assert self.job.state is JobState.QUEUED
        assert [e.code for e in self.job.pending_events] == ["job_created"]

    # --- the harness around each call ----------------------------------------------------------

    def attempt(self, action: Any, valid: bool, codes: list[str]) -> bool:
        """Calls `action(now)`; checks it raised iff the model says it is invalid."""
        self.now += timedelta(seconds=1)
        now = self.now
        before = snapshot(self.job)
        previous_state = self.job.state
        seen = len(self.job.pending_events)
        try:
            action(now)
        except InvalidTransition:
            assert not valid, "a valid transition was refused"
            assert snapshot(self.job) == before, "a refused transition changed the job"
            return False
        assert valid, "an invalid transition was allowed"
        new_events = self.job.pending_events[seen:]
        assert [e.code for e in new_events] == codes
        assert all(e.ts == now for e in new_events)
        assert self.job.updated_at == now
        if self.job.state is not previous_state:
            assert (previous_state, self.job.state) in ALLOWED
        return True

    def item_state(self, index: int) -> ItemState:
        return self.job.items[index].state

    @property
    def running(self) -> bool:
        return self.job.state is JobState.RUNNING

    # --- rules --------------------------------------------------------------------------------

    @rule()
    def start(self) -> None:
        if self.attempt(self.job.start, self.job.state is JobState.QUEUED, ["job_started"]):
            self.starts += 1
            self.first_start = self.first_start or self.now
            assert self.job.started_at == self.first_start
            assert self.job.next_attempt_at is None

    @rule(data=st.data(), seed=st.integers(0, 2**32 - 1))
    def start_item(self, data: st.DataObject, seed: int) -> None:
        index = data.draw(st.integers(0, self.job.count - 1))
        valid = self.running and self.item_state(index) is not ItemState.SUCCEEDED
        if self.attempt(lambda now: self.job.start_item(index, seed, now), valid, ["item_started"]):
            item = self.job.items[index]
            assert (item.state, item.seed, item.stages) == (ItemState.RUNNING, seed, {})
            assert item.started_at == self.now
            assert self.job.pending_events[-1].item_index == index

    @rule(data=st.data(), stage=st.sampled_from(STAGES), fraction=st.floats(0, 1))
    def advance_item(self, data: st.DataObject, stage: str, fraction: float) -> None:
        index = data.draw(st.integers(0, self.job.count - 1))
        valid = self.running and self.item_state(index) is ItemState.RUNNING
        before = item_progress("generate", self.job.items[index].stages)
        if self.attempt(
            lambda now: self.job.advance_item(index, stage, fraction, now), valid, ["item_progress"]
        ):
            after = item_progress("generate", self.job.items[index].stages)
            assert after >= before, "item progress went backwards"
            event = self.job.pending_events[-1]
            assert event.kind is EventKind.PROGRESS
            assert event.item_index == index
            assert event.data["progress"] == pytest.approx(self.job.progress, abs=1e-6)

    @rule(data=st.data())
    def finish_item(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, self.job.count - 1))
        valid = self.running and self.item_state(index) is ItemState.RUNNING
        codes = ["artifact_stored", "item_progress", "item_succeeded"]
        if self.attempt(
            lambda now: self.job.finish_item(index, artifact_for(self.job, index, now), now),
            valid,
            codes,
        ):
            item = self.job.items[index]
            assert item.finished_at == self.now
            assert item_progress("generate", item.stages) == pytest.approx(1.0)
            self.finished[index] = item.seed

    # Random single steps seldom finish a whole batch before something fails it; this rule
    # runs the next item from start to finish, so success is reached as often as failure.
    @precondition(lambda self: self.running and self.job.next_item() is not None)
    @rule(seed=st.integers(0, 2**32 - 1))
    def complete_next_item(self, seed: int) -> None:
        item = self.job.next_item()
        assert item is not None
        index = item.index
        assert self.attempt(
            lambda now: self.job.start_item(index, seed, now), True, ["item_started"]
        )
        codes = ["artifact_stored", "item_progress", "item_succeeded"]
        assert self.attempt(
            lambda now: self.job.finish_item(index, artifact_for(self.job, index, now), now),
            True,
            codes,
        )
        self.finished[index] = seed

    @precondition(lambda self: self.running)
    @rule(seed=st.integers(0, 2**32 - 1))
    def finish_the_batch(self, seed: int) -> None:
        while self.job.next_item() is not None:
            self.complete_next_item(seed)
        self.succeed()
        assert self.job.state is JobState.SUCCEEDED

    @rule()
    def succeed(self) -> None:
        valid = self.running and all(i.state is ItemState.SUCCEEDED for i in self.job.items)
        if self.attempt(self.job.succeed, valid, ["job_succeeded", "end"]):
            assert self.job.finished_at == self.now
            assert self.job.progress == pytest.approx(1.0)
            event("job succeeded")

    @rule(delay=st.integers(1, 600))
    def schedule_retry(self, delay: int) -> None:
        error = ErrorInfo("provider_error", "runner crashed")
        retry_at = self.now + timedelta(seconds=1 + delay)
        if self.attempt(
            lambda now: self.job.schedule_retry(error, now, retry_at),
            self.running,
            ["retry_scheduled"],
        ):
            assert self.job.next_attempt_at == retry_at
            assert self.job.step.last_error == error
            assert self.job.error is None

    # queued → failed is not in the lifecycle; the test below checks it is refused.
    @precondition(lambda self: self.job.state is not JobState.QUEUED)
    @rule(code=st.sampled_from(["oom", "provider_error", "internal"]))
    def fail(self, code: str) -> None:
        error = ErrorInfo(code, "it broke")
        if self.attempt(lambda now: self.job.fail(error, now), self.running, ["job_failed", "end"]):
            assert self.job.error == error
            assert self.job.finished_at == self.now
            assert self.job.next_attempt_at is None
            event("job failed")

    @rule()
    def requeue_interrupted(self) -> None:
        if self.attempt(self.job.requeue_interrupted, self.running, ["job_requeued"]):
            assert self.job.next_attempt_at is None

    @rule()
    def hand_back(self) -> None:
        attempts = self.job.attempts
        if self.attempt(self.job.hand_back, self.running, ["job_handed_back"]):
            self.starts -= 1
            assert self.job.attempts == attempts - 1
            assert self.job.next_attempt_at is None
            assert self.job.lease_owner is None

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def step_follows_job(self) -> None:
        assert self.job.step.state is self.job.state
        assert self.job.attempts == self.job.step.attempts == self.starts

    @invariant()
    def finished_items_never_regress(self) -> None:
        for index, seed in self.finished.items():
            item = self.job.items[index]
            assert item.state is ItemState.SUCCEEDED
            assert item.seed == seed
        stored = {a.item_index for a in self.job.new_artifacts}
        assert stored == set(self.finished)

    @invariant()
    def state_matches_items(self) -> None:
        states = {i.state for i in self.job.items}
        if self.job.state is JobState.SUCCEEDED:
            assert states == {ItemState.SUCCEEDED}
        if self.job.state is JobState.QUEUED:
            assert ItemState.RUNNING not in states
            assert ItemState.FAILED not in states
        if ItemState.FAILED in states:
            assert self.job.state is JobState.FAILED

    @invariant()
    def timestamps_follow_the_state(self) -> None:
        job = self.job
        assert (job.started_at is None) == (self.first_start is None)
        assert (job.finished_at is not None) == job.state.terminal
        assert job.created_at <= job.updated_at
        if job.started_at is not None:
            assert job.created_at <= job.started_at <= job.updated_at
        if job.finished_at is not None:
            assert job.finished_at == job.updated_at

    @invariant()
    def every_transition_is_an_event(self) -> None:
        events = self.job.pending_events
        replayed = [STATE_EVENTS[e.code] for e in events if e.code in STATE_EVENTS]
        assert replayed[-1] is self.job.state
        ends = [n for n, e in enumerate(events) if e.kind is EventKind.END]
        if self.job.state.terminal:
            assert ends == [len(events) - 1]
            assert events[-1].code == "end"
            assert events[-1].data == {"state": self.job.state.value}
        else:
            assert ends == []
        assert [e.ts for e in events] == sorted(e.ts for e in events)

    @invariant()
    def progress_is_a_mean_within_bounds(self) -> None:
        parts = [item_progress("generate", i.stages) for i in self.job.items]
        assert self.job.progress == pytest.approx(sum(parts) / len(parts))
        assert 0.0 <= self.job.progress <= 1.0 + 1e-9


JobLifecycle.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestJobLifecycle = JobLifecycle.TestCase


# --- worked examples ------------------------------------------------------------------------


def test_a_new_job_is_queued_with_one_pending_item_per_image() -> None:
    job = new_job(count=3)
    assert job.state is JobState.QUEUED
    assert [(i.index, i.state, i.seed) for i in job.items] == [
        (0, ItemState.PENDING, None),
        (1, ItemState.PENDING, None),
        (2, ItemState.PENDING, None),
    ]
    assert job.step.name == "generate"
    assert job.attempts == 0
    assert job.next_item() is job.items[0]


def test_a_seed_with_several_images_is_noted_as_ignored() -> None:
    job = new_job(count=2, seed=42)
    warning = job.pending_events[-1]
    assert (warning.code, warning.level, warning.data) == ("seed_ignored", "warning", {"seed": 42})
    assert [e.code for e in new_job(count=1, seed=42).pending_events] == ["job_created"]


def _second_of_three_running() -> Job:
    """A job of three images: the first stored, the second running."""
    job = new_job(count=3)
    job.start(T0)
    job.start_item(0, 1, T0)
    job.finish_item(0, artifact_for(job, 0, T0), T0)
    job.start_item(1, 2, T0)
    return job


def test_a_retry_resumes_at_the_first_unfinished_item() -> None:
    job = _second_of_three_running()
    job.advance_item(1, "denoise", 0.5, T0)
    job.schedule_retry(ErrorInfo("timeout", "slow"), T0, T0 + timedelta(seconds=5))
    assert [i.state for i in job.items] == [
        ItemState.SUCCEEDED,
        ItemState.PENDING,
        ItemState.PENDING,
    ]
    assert job.items[1].stages == {}
    assert job.next_item() is job.items[1]
    assert job.progress == pytest.approx(1 / 3)


def test_advancing_a_later_stage_completes_the_earlier_ones() -> None:
    job = new_job(count=2)
    job.start(T0)
    job.start_item(0, 1, T0)
    job.advance_item(0, "encode", 0.5, T0)
    assert job.items[0].stages == {"prepare": 1.0, "denoise": 1.0, "encode": 0.5}
    job.advance_item(0, "denoise", 0.1, T0)  # an earlier stage never goes back
    assert job.items[0].stages["denoise"] == 1.0
    weights = STAGE_WEIGHTS["generate"]
    expected = (weights["prepare"] + weights["denoise"] + 0.5 * weights["encode"]) / 2
    assert job.progress == pytest.approx(expected)


def test_a_failed_job_keeps_its_finished_items_and_fails_the_running_one() -> None:
    job = _second_of_three_running()
    job.fail(ErrorInfo("oom", "out of memory"), T0)
    assert [i.state for i in job.items] == [
        ItemState.SUCCEEDED,
        ItemState.FAILED,
        ItemState.PENDING,
    ]
    assert job.error == ErrorInfo("oom", "out of memory")


def test_start_records_the_lifecycle() -> None:
    job = new_job(count=1)
    job.start(T0 + timedelta(seconds=1))
    assert job.state is JobState.RUNNING
    assert job.attempts == 1
    assert job.started_at == T0 + timedelta(seconds=1)
    assert job.finished_at is None
    assert job.steps[0].state is JobState.RUNNING


def test_a_queued_job_cannot_fail_without_running() -> None:
    job = new_job()
    with pytest.raises(InvalidTransition):
        job.fail(ErrorInfo("internal", "x"), T0)
