"""Batches and seeds (FR-007, FR-008, FR-014, FR-033): RunGenerateJob over the in-memory fakes.

It is one module because every case runs a batch through one harness and checks what the batch
leaves behind: its artifacts, seeds, events and writes.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dreamforge_adapters.memory import ScriptedSeeds
from dreamforge_core.domain.events import Event, EventKind
from dreamforge_core.domain.job import ItemState, Job, JobState
from dreamforge_core.ports.runner import GeneratedImage, GenerationRequest, RunnerListener
from dreamforge_core.use_cases import runner_reports
from dreamforge_core.use_cases.run_generate_job import JobLimits, RunGenerateJob

from .conftest import CHECKPOINT_HASH, SMALL, Harness, HarnessFactory, StubRunner, make_model

KEY = re.compile(
    r"^dreamforge/default/jobs/(?P<job>[0-9a-f]{26})/generate/"
    r"\d{8}T\d{12}Z_(?P<index>\d+)_(?P<w>\d+)x(?P<h>\d+)_(?P<seed>\d+)\.(?P<ext>png|jpg)$"
)


class KeyboardInterruptLike(BaseException):
    """Stops the worker the way a signal would: not an Exception, so nothing catches it."""


def run_batch(harness: Harness, count: int, **params: Any) -> str:
    job_id = harness.create(count=count, **params).job.id
    assert harness.queue.run_due() == 1
    return job_id


def test_a_batch_of_n_yields_n_artifacts_with_distinct_seeds(harness: Harness) -> None:
    job_id = run_batch(harness, 5)
    job = harness.job(job_id)
    assert job.state is JobState.SUCCEEDED
    artifacts = harness.repo.artifacts(job_id)
    assert [a.item_index for a in artifacts] == [0, 1, 2, 3, 4]
    assert [a.seed for a in artifacts] == harness.seeds.drawn  # one draw per item, in order
    assert len({a.seed for a in artifacts}) == 5
    assert [i.seed for i in job.items] == harness.seeds.drawn
    assert len({a.key for a in artifacts}) == 5
    assert sorted(harness.blobs.blobs) == sorted(a.key for a in artifacts)
    assert job.progress == pytest.approx(1.0)
    assert job.attempts == 1


def test_artifacts_are_keyed_by_index_size_and_seed(harness: Harness) -> None:
    job_id = run_batch(harness, 2, format="jpg")
    for artifact in harness.repo.artifacts(job_id):
        match = KEY.match(artifact.key)
        assert match, artifact.key
        assert match["job"] == job_id
        assert int(match["index"]) == artifact.item_index
        assert (int(match["w"]), int(match["h"])) == (SMALL["width"], SMALL["height"])
        assert int(match["seed"]) == artifact.seed
        assert match["ext"] == "jpg"
        assert artifact.content_type == "image/jpeg"
        data, content_type = harness.blobs.blobs[artifact.key]
        assert content_type == "image/jpeg"
        assert artifact.size_bytes == len(data)


def test_seeds_are_drawn_as_each_item_starts_never_before(make_harness: HarnessFactory) -> None:
    """The ordered log shows draw k, item k started, generate k, then draw k+1 …"""
    log: list[tuple[str, int]] = []
    job_ids: list[str] = []
    holder: dict[str, Harness] = {}
    seeds_list = [70, 71, 72, 73]
    stored_at_draw: list[list[int]] = []

    def on_draw(seed: int) -> None:
        log.append(("draw", seeds_list.index(seed)))
        stored = holder["h"].repo.artifacts(job_ids[0])
        stored_at_draw.append([a.item_index for a in stored])

    def on_event(event: Event) -> None:
        if event.code == "item_started":
            log.append(("started", event.item_index or 0))

    h = make_harness(seeds=ScriptedSeeds(seeds_list, on_draw=on_draw), runner=StubRunner(log))
    holder["h"] = h
    job_ids.append(h.create(count=4).job.id)
    h.bus.subscribe(job_ids[0], on_event)
    h.queue.run_due()

    expected = [(what, k) for k in range(4) for what in ("draw", "started", "generate")]
    assert log == expected
    # When seed k is drawn, every earlier item has been generated; storing item k-1 may still
    # be under way (it overlaps generation k), every item before it is stored.
    for k, stored in enumerate(stored_at_draw):
        assert stored in (list(range(k - 1)), list(range(k))), (k, stored)
    assert [c.seed for c in h.runner.calls] == seeds_list
    assert h.job(job_ids[0]).state is JobState.SUCCEEDED


def test_an_item_never_started_has_no_seed(harness: Harness) -> None:
    harness.runner.fail_on(1, KeyboardInterruptLike(), times=None)
    job_id = harness.create(count=4).job.id
    with pytest.raises(KeyboardInterruptLike):
        harness.queue.run_due()
    job = harness.job(job_id)
    assert len(harness.seeds.drawn) == 2  # items 0 and 1 only
    assert [i.seed for i in job.items[2:]] == [None, None]


def test_a_given_seed_is_used_for_a_single_image(harness: Harness) -> None:
    job_id = run_batch(harness, 1, seed=1234)
    assert harness.seeds.drawn == []
    assert [c.seed for c in harness.runner.calls] == [1234]
    assert [a.seed for a in harness.repo.artifacts(job_id)] == [1234]
    assert "seed_ignored" not in harness.codes(job_id)


def test_a_given_seed_is_ignored_for_several_images_with_a_warning(harness: Harness) -> None:
    result = harness.create(count=3, seed=1234)
    warnings = [e for e in harness.events(result.job.id) if e.code == "seed_ignored"]
    assert len(warnings) == 1
    assert warnings[0].level == "warning"
    assert warnings[0].data["seed"] == 1234
    harness.queue.run_due()
    seeds = [a.seed for a in harness.repo.artifacts(result.job.id)]
    assert seeds == harness.seeds.drawn
    assert len(seeds) == 3
    assert 1234 not in seeds
    assert result.job.params.seed == 1234  # the request is kept as sent


def test_per_item_events_carry_the_item_index(harness: Harness) -> None:
    job_id = run_batch(harness, 3)
    per_item = {"item_started", "item_progress", "artifact_stored", "item_succeeded"}
    events = harness.events(job_id)
    for event in events:
        if event.code in per_item:
            assert event.item_index in (0, 1, 2), event
        elif event.code in {"job_created", "job_started", "job_succeeded", "end"}:
            assert event.item_index is None
    stored = [e for e in events if e.kind is EventKind.ARTIFACT]
    assert [e.item_index for e in stored] == [0, 1, 2]
    assert [e.data["artifact"]["item_index"] for e in stored] == [0, 1, 2]


def test_progress_events_climb_to_one_as_the_mean_of_items(harness: Harness) -> None:
    job_id = run_batch(harness, 4)
    progress = [e.data["progress"] for e in harness.events(job_id) if e.code == "item_progress"]
    assert progress == sorted(progress)
    assert progress[-1] == pytest.approx(1.0)
    # After item k is stored the job is at least (k+1)/4 done: items count evenly (the next
    # item may already be denoising while item k is stored).
    done = [
        e.data["progress"]
        for e in harness.events(job_id)
        if e.code == "item_progress" and e.data["stage"] == "store"
    ]
    assert len(done) == 4
    for k, value in enumerate(done):
        assert value >= (k + 1) / 4 - 1e-9
    assert done[-1] == pytest.approx(1.0)
    denoise = [e for e in harness.events(job_id) if e.code == "item_progress" and e.item_index == 0]
    assert [e.data.get("step") for e in denoise[: SMALL["steps"]]] == [1, 2, 3]


def test_events_are_numbered_without_gaps_and_end_last(harness: Harness) -> None:
    job_id = run_batch(harness, 2)
    events = harness.events(job_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].code == "end"
    assert events[-1].kind is EventKind.END
    assert events[-2].code == "job_succeeded"


def test_live_events_follow_the_stored_ones(harness: Harness) -> None:
    result = harness.create(count=2)
    seen: list[Event] = []
    harness.bus.subscribe(result.job.id, seen.append)
    harness.queue.run_due()
    stored = harness.events(result.job.id)
    assert seen == stored[1:]  # all but job_created, stored before the subscription


def test_the_encoder_gets_the_item_metadata_unless_disabled(harness: Harness) -> None:
    run_batch(harness, 2, negative_prompt="blur", guidance=5.5)
    first, second = harness.encoder.metadata
    assert first is not None
    assert second is not None
    assert (first.seed, second.seed) == tuple(harness.seeds.drawn)
    assert first.negative_prompt == "blur"
    assert first.guidance == 5.5
    assert first.checkpoint_hash == CHECKPOINT_HASH
    assert first.generator == "dreamforge-test"
    harness.encoder.metadata.clear()
    run_batch(harness, 2, embed_metadata=False)
    assert harness.encoder.metadata == [None, None]


@pytest.mark.parametrize("embed", [True, False])
def test_job_and_artifacts_record_the_checkpoint_the_attempt_used(
    harness: Harness, embed: bool
) -> None:
    """With or without metadata in the image; and if the model's files changed between the
    job's creation and its run, the hash the attempt loaded is what is recorded."""
    job_id = harness.create(count=2, embed_metadata=embed).job.id
    assert harness.job(job_id).checkpoint_hash == CHECKPOINT_HASH
    swapped = "5" * 64
    harness.registry.upsert(make_model(checkpoint_hash=swapped))
    harness.settle()

    job = harness.job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert job.checkpoint_hash == swapped
    artifacts = harness.repo.artifacts(job_id)
    assert [a.checkpoint_hash for a in artifacts] == [swapped, swapped]
    assert all(a.to_dict()["checkpoint_hash"] == swapped for a in artifacts)
    stored = [e.data["artifact"] for e in harness.events(job_id) if e.code == "artifact_stored"]
    assert [a["checkpoint_hash"] for a in stored] == [swapped, swapped]


def test_items_run_one_after_another(harness: Harness) -> None:
    starts: list[int] = []

    def check(request: object) -> None:
        job = harness.job(job_id[0])
        running = [i.index for i in job.items if i.state is ItemState.RUNNING]
        starts.append(len(running))

    job_id = [harness.create(count=3).job.id]
    harness.runner.before_generate = check
    harness.queue.run_due()
    # The item being generated, plus at most the previous one still being stored.
    assert starts[0] == 1
    assert all(n in (1, 2) for n in starts)
    assert [c.item_index for c in harness.runner.calls] == [0, 1, 2]


def test_storing_an_item_overlaps_generating_the_next(harness: Harness) -> None:
    next_started = threading.Event()
    overlapped: list[bool] = []
    real_put = harness.blobs.put

    def put(key: str, data: bytes, content_type: str) -> None:
        if "_0_" in key.rsplit("/", 1)[-1]:  # item 0 waits until item 1 is being generated
            overlapped.append(next_started.wait(5))
        real_put(key, data, content_type)

    def before(request: object) -> None:
        if getattr(request, "item_index", None) == 1:
            next_started.set()

    harness.blobs.put = put  # type: ignore[method-assign]
    harness.runner.before_generate = before
    job_id = harness.create(count=2).job.id
    harness.queue.run_due()
    assert overlapped == [True]
    assert harness.job(job_id).state is JobState.SUCCEEDED


@settings(max_examples=15, deadline=None)
@given(count=st.integers(1, 20), seed=st.one_of(st.none(), st.integers(0, 2**32 - 1)))
def test_any_batch_size_yields_one_artifact_per_item(
    make_harness: HarnessFactory, count: int, seed: int | None
) -> None:
    h = make_harness(seeds=ScriptedSeeds(itertools.count(5_000)))
    result = h.create(count=count, seed=seed, steps=1)
    h.queue.run_due()
    job = h.job(result.job.id)
    artifacts = h.repo.artifacts(job.id)
    assert job.state is JobState.SUCCEEDED
    assert [a.item_index for a in artifacts] == list(range(count))
    assert len(h.runner.calls) == count
    if seed is not None and count == 1:
        assert [a.seed for a in artifacts] == [seed]
        assert h.seeds.drawn == []
    else:
        assert [a.seed for a in artifacts] == h.seeds.drawn
        assert len(set(h.seeds.drawn)) == count
    assert ("seed_ignored" in h.codes(job.id)) is (seed is not None and count > 1)
    assert h.codes(job.id).count("item_succeeded") == count


class CountingSaves:
    """Counts the repository writes of running jobs (the claim and everything after)."""

    def __init__(self, harness: Harness) -> None:
        self.writes = 0
        save = harness.repo.save

        def counted(job: Job) -> list[Event]:
            self.writes += 1
            return save(job)

        harness.repo.save = counted  # type: ignore[method-assign]


def test_fast_items_cost_one_write_each_plus_the_claim(harness: Harness) -> None:
    # Claim + first start together; each item's record + the next start; the last record
    # together with success. Progress of fast steps rides along with those writes.
    harness.execute_job = RunGenerateJob(
        harness.ports, harness.retry, generator="test", limits=JobLimits()
    )
    counter = CountingSaves(harness)
    job_id = harness.create(count=1).job.id
    harness.execute(job_id)
    assert harness.job(job_id).state is JobState.SUCCEEDED
    assert counter.writes == 2
    codes = harness.codes(job_id)
    assert codes.index("job_started") < codes.index("item_started") < codes.index("job_succeeded")


class NotingRunner(StubRunner):
    """Notes a cache hit, then reports its steps `step_s` apart."""

    def __init__(self, step_s: float) -> None:
        super().__init__()
        self.step_s = step_s

    def generate(self, request: GenerationRequest, listener: RunnerListener) -> GeneratedImage:
        listener.note("model_cached", "model already loaded", {})
        total = request.params.steps
        for done in range(1, total + 1):
            time.sleep(self.step_s)
            listener.step(done, total)
        width, height = request.params.width, request.params.height
        return GeneratedImage(width, height, bytes(width * height * 3))


def _writes_of(
    harness: Harness, step_s: float, progress_interval_s: float = 0.1
) -> list[list[str]]:
    """The event codes of each write of a one-image job run by a NotingRunner."""
    writes: list[list[str]] = []
    save = harness.repo.save

    def recording(job: Job) -> list[Event]:
        stored = save(job)
        writes.append([e.code for e in stored])
        return stored

    harness.repo.save = recording  # type: ignore[method-assign]
    ports = dataclasses.replace(harness.ports, runner=NotingRunner(step_s))
    limits = JobLimits(progress_interval_s=progress_interval_s)
    execute = RunGenerateJob(ports, harness.retry, generator="test", limits=limits)
    job_id = harness.create(count=1, steps=4).job.id
    execute(job_id)
    assert harness.job(job_id).state is JobState.SUCCEEDED
    return writes


def test_a_fast_runners_note_and_last_step_ride_along_with_the_items_record(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Steps well within one progress interval, and within the ride-along window too whatever
    # the load on the machine: the reports' clock stands still, where a busy machine could
    # pause this thread past the window's 10 ms between the note and a step.
    frozen = time.monotonic()
    monkeypatch.setattr(runner_reports, "time", SimpleNamespace(monotonic=lambda: frozen))
    writes = _writes_of(harness, step_s=0.0, progress_interval_s=60)
    assert len(writes) == 2
    assert "model_cached" in writes[1]
    assert "job_succeeded" in writes[1]


def test_a_slow_runners_note_is_written_at_its_next_step_not_a_progress_interval_later(
    harness: Harness,
) -> None:
    writes = _writes_of(harness, step_s=0.03)  # the progress interval is 0.1 s
    noted = next(i for i, codes in enumerate(writes) if "model_cached" in codes)
    assert "item_progress" in writes[noted]  # taken along by the first step, 30 ms later
    assert noted == 1  # right after the claim, not with a later paced step
