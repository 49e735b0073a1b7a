"""One contract for the Runner port: the fake runner (tests, no GPU) and the SDXL runner (a
supervised child process running diffusers on the tiny demo model)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from dreamforge_adapters.fake_runner import FakeRunner
from dreamforge_adapters.sdxl.child_process import ChildOptions
from dreamforge_adapters.sdxl.supervisor import SubprocessRunner
from dreamforge_apps.models import fake_model
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.params import GenerateParams
from dreamforge_core.errors import StepTimeout
from dreamforge_core.ports.runner import GenerationRequest, Runner
from tests.support.runner_listener import RecordingListener

PARAMS = GenerateParams(prompt="a lighthouse", width=64, height=64, steps=4, scheduler="euler")


@pytest.fixture(scope="module")
def demo_models(tmp_path_factory: pytest.TempPathFactory) -> list[ModelDescriptor]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from dreamforge_adapters.sdxl.demo_model import create_demo

    return create_demo(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module", params=["fake", "sdxl"])
def runner_and_model(
    request: pytest.FixtureRequest, demo_models: list[ModelDescriptor]
) -> Iterator[tuple[Runner, ModelDescriptor]]:
    if request.param == "fake":
        yield FakeRunner(), fake_model(datetime(2026, 1, 1, tzinfo=UTC))
        return
    folder = next(m for m in demo_models if m.kind == "sdxl-diffusers")
    runner = SubprocessRunner(ChildOptions(threads=1), lambda m: None)
    yield runner, folder
    runner.close()


def _generate(
    runner: Runner,
    model: ModelDescriptor,
    seed: int,
    listener: RecordingListener | None = None,
    **params: Any,
) -> bytes:
    request = GenerationRequest("job", 0, model, replace(PARAMS, **params), seed)
    return runner.generate(request, listener or RecordingListener()).pixels


def test_same_seed_same_pixels_other_seed_other_pixels(
    runner_and_model: tuple[Runner, ModelDescriptor],
) -> None:
    runner, model = runner_and_model
    first = _generate(runner, model, 1)
    assert len(first) == 64 * 64 * 3
    assert _generate(runner, model, 1) == first
    assert _generate(runner, model, 2) != first
    assert _generate(runner, model, 1, scheduler="euler_a") != first


def test_each_step_is_reported_once_in_order_and_the_model_is_noted(
    runner_and_model: tuple[Runner, ModelDescriptor],
) -> None:
    runner, model = runner_and_model
    _generate(runner, model, 3)  # loaded (or already warm)
    listener = RecordingListener()
    _generate(runner, model, 3, listener, steps=5)
    assert listener.steps == [(n, 5) for n in range(1, 6)]
    assert "model_cache_hit" in listener.notes
    assert "model_loaded" not in listener.notes


def test_a_step_timeout_raises_timeout(runner_and_model: tuple[Runner, ModelDescriptor]) -> None:
    runner, model = runner_and_model
    if isinstance(runner, FakeRunner):
        runner = FakeRunner(step_delay_s=0.05)
    request = replace(
        GenerationRequest("job", 0, model, replace(PARAMS, steps=200), 1), timeout_s=0.3
    )
    with pytest.raises(StepTimeout):
        runner.generate(request, RecordingListener())
    assert len(_generate(runner, model, 1)) == 64 * 64 * 3  # the next item still runs


class StalledStore(Exception):
    """What a listener raises when the job's progress cannot be saved."""


class RaisingListener(RecordingListener):
    def __init__(self, at_step: int) -> None:
        super().__init__()
        self.at_step = at_step

    def step(self, done: int, total: int) -> None:
        super().step(done, total)
        if done == self.at_step:
            raise StalledStore("database is locked")


def test_a_listener_that_raises_mid_request_leaves_the_next_request_clean(
    runner_and_model: tuple[Runner, ModelDescriptor],
) -> None:
    runner, model = runner_and_model
    expected = _generate(runner, model, 7, width=96, height=80, steps=3)
    pid = getattr(runner, "child_pid", None)

    with pytest.raises(StalledStore):
        _generate(runner, model, 1, RaisingListener(at_step=2), steps=40)

    listener = RecordingListener()
    got = _generate(runner, model, 7, listener, width=96, height=80, steps=3)
    assert got == expected  # this request's own pixels, at its own size
    assert listener.steps == [(1, 3), (2, 3), (3, 3)]  # none of the abandoned request's steps
    assert getattr(runner, "child_pid", None) == pid  # stopped at a step: the runner stayed warm
