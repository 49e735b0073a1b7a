"""The fake runner keeps a real runner's promises: reproducible pixels, every step reported, and
the typed failures a test asks for."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from dreamforge_adapters.fake_runner import FakeRunner
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.params import GenerateParams
from dreamforge_core.errors import DreamForgeError, OutOfMemory, ProviderError, StepTimeout
from dreamforge_core.ports.runner import GenerationRequest
from tests.support.runner_listener import RecordingListener

NOW = datetime(2025, 1, 1, tzinfo=UTC)
MODEL = ModelDescriptor(
    id="fake-model",
    name="fake",
    kind="fake",
    version="1",
    created_at=NOW,
    updated_at=NOW,
    installed=True,
)
PARAMS = GenerateParams(prompt="a lighthouse at dusk", width=64, height=48, steps=4)


def _request(seed: int = 7, index: int = 0, **params: Any) -> GenerationRequest:
    return GenerationRequest("job-1", index, MODEL, replace(PARAMS, **params), seed)


_ignore = RecordingListener()


def test_same_seed_and_params_give_identical_pixels() -> None:
    first = FakeRunner().generate(_request(), _ignore)
    second = FakeRunner().generate(_request(), _ignore)

    assert first.pixels == second.pixels
    assert (first.width, first.height) == (64, 48)
    assert len(first.pixels) == 64 * 48 * 3


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 8},
        {"scheduler": "euler"},
        {"prompt": "a lighthouse at dawn"},
        {"negative_prompt": "fog"},
        {"steps": 5},
        {"guidance": 7.0},
    ],
)
def test_any_change_gives_different_pixels(change: dict[str, Any]) -> None:
    runner = FakeRunner()
    seed = change.get("seed", 7)
    params = {k: v for k, v in change.items() if k != "seed"}

    base = runner.generate(_request(), _ignore)
    changed = runner.generate(_request(seed, **params), _ignore)

    assert base.pixels != changed.pixels


def test_a_different_model_gives_different_pixels() -> None:
    runner = FakeRunner()
    other = GenerationRequest("job-1", 0, replace(MODEL, id="other"), PARAMS, 7)

    assert runner.generate(_request(), _ignore).pixels != runner.generate(other, _ignore).pixels


def test_sizes_that_are_not_a_multiple_of_the_cell_work() -> None:
    image = FakeRunner().generate(_request(width=30, height=17), _ignore)

    assert (image.width, image.height, len(image.pixels)) == (30, 17, 30 * 17 * 3)


def test_on_step_is_called_once_per_step_in_order() -> None:
    seen = RecordingListener()

    FakeRunner().generate(_request(steps=5), seen)

    assert seen.steps == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_model_load_is_noted_on_first_use_only() -> None:
    runner = FakeRunner()
    first, second = RecordingListener(), RecordingListener()

    runner.generate(_request(), first)
    runner.generate(_request(index=1), second)

    assert first.notes == ["model_loaded"]
    assert second.notes == ["model_cache_hit"]


def test_a_step_timeout_shorter_than_the_work_raises_timeout() -> None:
    request = replace(_request(steps=10), timeout_s=0.05)

    with pytest.raises(StepTimeout):
        FakeRunner(step_delay_s=0.02).generate(request, RecordingListener())


def test_calls_are_recorded_with_their_seed_and_time() -> None:
    runner = FakeRunner()

    runner.generate(_request(11, index=0), _ignore)
    runner.generate(_request(12, index=1), _ignore)

    assert [(c.job_id, c.item_index, c.seed) for c in runner.calls] == [
        ("job-1", 0, 11),
        ("job-1", 1, 12),
    ]
    assert runner.calls[0].at <= runner.calls[1].at


@pytest.mark.parametrize("error", [ProviderError, StepTimeout, OutOfMemory])
def test_failure_plan_fails_the_configured_call(error: type[DreamForgeError]) -> None:
    runner = FakeRunner(fail_calls={1: error})

    runner.generate(_request(), _ignore)
    with pytest.raises(error) as caught:
        runner.generate(_request(index=1), _ignore)
    runner.generate(_request(index=2), _ignore)

    assert caught.value.job_id == "job-1"
    assert len(runner.calls) == 3


def test_always_fail_fails_every_call() -> None:
    runner = FakeRunner(always_fail=OutOfMemory)

    for index in range(3):
        with pytest.raises(OutOfMemory):
            runner.generate(_request(index=index), _ignore)


def test_a_failure_after_some_steps_reports_them_first() -> None:
    seen = RecordingListener()
    runner = FakeRunner(fail_calls={0: OutOfMemory}, fail_after_steps=2)

    with pytest.raises(OutOfMemory):
        runner.generate(_request(steps=4), seen)

    assert seen.steps == [(1, 4), (2, 4)]


def test_a_failure_before_any_step_reports_none() -> None:
    seen = RecordingListener()

    with pytest.raises(ProviderError):
        FakeRunner(always_fail=ProviderError).generate(_request(), seen)

    assert seen.steps == []


def test_a_full_size_image_is_cheap_to_make() -> None:
    # Speed is checked by measurement, not by a timed assertion; this keeps the size path honest.
    image = FakeRunner().generate(_request(width=1024, height=1024, steps=1), _ignore)

    assert len(image.pixels) == 1024 * 1024 * 3


def test_close_is_harmless() -> None:
    runner = FakeRunner()
    runner.close()
    runner.close()


def test_fail_marker_fails_only_with_test_hooks_on() -> None:
    request = _request(prompt="[[fail:provider_error]] a cat")
    FakeRunner().generate(request, RecordingListener())  # hooks off: the marker is just text
    with pytest.raises(ProviderError):
        FakeRunner(test_hooks=True).generate(request, RecordingListener())


def _png(width: int, height: int, color: object, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), color).save(out, format="PNG")  # type: ignore[arg-type]
    return out.getvalue()


def test_image_to_image_runs_strength_of_the_steps_and_starts_from_the_init_image() -> None:
    init = _png(64, 48, (255, 0, 0))
    listener = RecordingListener()
    call = replace(_request(steps=10, strength=0.3), init_image=init)
    image = FakeRunner().generate(call, listener)
    assert listener.steps == [(1, 3), (2, 3), (3, 3)]
    pixels = Image.frombytes("RGB", (64, 48), image.pixels)
    red = [pixels.getpixel((x, y))[0] for x in range(64) for y in range(48)]  # type: ignore[index]
    assert min(red) >= int(255 * 0.7) - 1  # 70 % of each pixel is the init image's


def test_inpainting_keeps_what_the_mask_leaves_black() -> None:
    mask = Image.new("L", (64, 48), 0)
    mask.paste(255, (32, 0, 64, 48))
    out = io.BytesIO()
    mask.save(out, format="PNG")
    blue = _png(64, 48, (0, 0, 255))
    call = replace(_request(strength=1.0), init_image=blue, mask_image=out.getvalue())
    pixels = Image.frombytes(
        "RGB", (64, 48), FakeRunner().generate(call, RecordingListener()).pixels
    )
    assert {pixels.getpixel((x, y)) for x in range(32) for y in range(48)} == {(0, 0, 255)}
    assert len({pixels.getpixel((x, y)) for x in range(32, 64) for y in range(48)}) > 1


def _on(model_id: str, index: int = 0) -> GenerationRequest:
    return replace(_request(index=index), model=replace(MODEL, id=model_id))


def test_alternating_models_load_on_every_switch_with_one_warm_pipeline() -> None:
    runner = FakeRunner(warm_models=1)
    for i, model_id in enumerate(["a", "b", "a", "b"]):
        runner.generate(_on(model_id, i), _ignore)

    assert runner.pipelines.loads == 4
    assert runner.pipelines.warm == ["b"]


def test_two_warm_pipelines_keep_the_idle_one_in_cpu_memory_and_move_it_back() -> None:
    runner = FakeRunner(warm_models=2, load_s=0.05)
    notes = []
    for i, model_id in enumerate(["a", "b", "a", "b", "a"]):
        seen = RecordingListener()
        runner.generate(_on(model_id, i), seen)
        notes.append(seen.notes[0])

    assert runner.pipelines.loads == 2
    assert runner.pipelines.restores == 3
    assert notes == ["model_loaded", "model_loaded", *["model_cache_hit"] * 3]
    assert runner.pipelines.warm == ["a", "b"]  # the one in use first


def test_the_memory_budget_bounds_the_warm_pipelines_below_their_count() -> None:
    runner = FakeRunner(warm_models=3, memory_budget_mb=15_000)  # two simulated pipelines fit
    for i, model_id in enumerate(["a", "b", "c", "a"]):
        runner.generate(_on(model_id, i), _ignore)

    assert runner.pipelines.capacity == 2
    assert runner.pipelines.loads == 4  # "a" was dropped when "c" loaded
    assert runner.pipelines.warm == ["a", "c"]


def test_a_load_takes_the_simulated_load_time_and_its_note_names_the_warm_models() -> None:
    runner = FakeRunner(load_s=0.1)
    seen = RecordingListener()
    began = time.monotonic()
    runner.generate(_on("a"), seen)

    assert time.monotonic() - began >= 0.1
    assert seen.note_data[0]["seconds"] == 0.1
    assert seen.note_data[0]["warm"] == ["a"]
