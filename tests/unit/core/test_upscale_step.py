"""The upscale step (hires fix): a second step per image, keyed, weighed, told and resumed as
a step of its own."""

from __future__ import annotations

from dreamforge_core.domain.job import ItemState, JobState
from dreamforge_core.errors import ProviderError
from dreamforge_core.ports.runner import GenerationRequest

from .conftest import Harness

UPSCALE = {"factor": 1.5, "strength": 0.5, "steps": 4}


def test_each_image_is_generated_then_enlarged_and_repainted(harness: Harness) -> None:
    job = harness.create(count=2, seed=None, upscale=UPSCALE).job
    assert [s.name for s in job.steps] == ["generate", "upscale"]
    harness.settle()

    done = harness.job(job.id)
    assert done.state is JobState.SUCCEEDED
    assert [s.state for s in done.steps] == [JobState.SUCCEEDED, JobState.SUCCEEDED]
    artifacts = harness.repo.artifacts(job.id)
    assert [(a.step, a.item_index) for a in artifacts] == [
        ("generate", 0), ("generate", 1), ("upscale", 0), ("upscale", 1)
    ]  # fmt: skip
    generated = {a.item_index: a for a in artifacts if a.step == "generate"}
    for a in artifacts[2:]:
        assert "/upscale/" in a.key
        assert a.seed == generated[a.item_index].seed
    first, second, up0, up1 = harness.runner.calls
    base = first.params
    assert (up0.params.width, up0.params.height) == (base.width * 3 // 2, base.height * 3 // 2)
    assert (up0.params.steps, up0.params.strength, up0.params.upscale) == (4, 0.5, None)
    assert up0.init_image == harness.blobs.get(generated[0].key)
    assert up1.init_image == harness.blobs.get(generated[1].key)
    assert (up0.seed, up1.seed) == (first.seed, second.seed)


def test_progress_weighs_both_steps_and_events_tell_of_the_second(harness: Harness) -> None:
    job_id = harness.create(upscale=UPSCALE).job.id
    harness.settle()

    events = harness.events(job_id)
    codes = [e.code for e in events]
    assert codes.index("step_succeeded") < codes.index("step_started")
    job = harness.job(job_id)
    started = next(e for e in events if e.code == "step_started")
    assert (started.step_id, started.data["step"]) == (job.steps[1].id, "upscale")
    progress = [(e.step_id, e.data["progress"]) for e in events if e.code == "item_progress"]
    generate_end = max(p for step, p in progress if step == job.steps[0].id)
    assert generate_end == 0.4  # the generate step's weight
    assert progress[-1] == (job.steps[1].id, 1.0)
    assert [p for _, p in progress] == sorted(p for _, p in progress)


def test_a_failure_in_the_upscale_step_resumes_there(harness: Harness) -> None:
    failed: list[int] = []

    def fail_first_upscale(request: GenerationRequest) -> None:
        if request.params.width > 256 and not failed:
            failed.append(request.item_index)
            raise ProviderError("runner crashed in the hires pass")

    harness.runner.before_generate = fail_first_upscale
    job_id = harness.create(upscale=UPSCALE).job.id
    harness.queue.run_due()

    job = harness.job(job_id)
    assert job.state is JobState.QUEUED
    assert job.steps[0].state is JobState.SUCCEEDED
    assert job.step.name == "upscale"
    assert job.step.last_error is not None
    assert [i.state for i in job.step.items] == [ItemState.PENDING]

    harness.settle()
    job = harness.job(job_id)
    assert job.state is JobState.SUCCEEDED
    widths = [c.params.width for c in harness.runner.calls]
    assert widths == [256, 384, 384]  # generated once, the upscale pass tried twice
    assert job.steps[1].attempts == 2
    assert job.steps[0].attempts == 1


def test_the_metadata_of_an_upscaled_image_reads_as_a_hires_fix(harness: Harness) -> None:
    harness.create(upscale=UPSCALE)
    harness.settle()

    generated, upscaled = (m.a1111_parameters() for m in harness.encoder.metadata)  # type: ignore[union-attr]
    assert "Hires" not in generated
    assert "Size: 256x256" in upscaled
    assert "Denoising strength: 0.5, Hires upscale: 1.5, Hires steps: 4," in upscaled


def test_the_pass_parameters_a_runner_process_receives_carry_its_strength(
    harness: Harness,
) -> None:
    harness.create(upscale=UPSCALE)
    harness.settle()

    sent = harness.runner.calls[-1].params.to_dict()  # what travels to the SDXL child
    assert (sent["strength"], sent["steps"], sent["width"]) == (0.5, 4, 384)
    assert "upscale" not in sent
    assert "init_image" not in sent
