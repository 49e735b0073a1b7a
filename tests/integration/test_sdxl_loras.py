"""LoRA per request and live previews through the real SDXL runner (parent and child) on the
demo model and its demo LoRA: the LoRA changes the picture, scale 0 gives the plain one, the
plain model comes back after a job with a LoRA, a LoRA loads once, and previews arrive every
N steps as small JPEGs.

One module, one runner: starting a child costs seconds."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from dreamforge_adapters.sdxl.child_process import ChildOptions
from dreamforge_adapters.sdxl.demo_model import create_demo
from dreamforge_adapters.sdxl.supervisor import SubprocessRunner
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.params import GenerateParams
from dreamforge_core.errors import InvalidInput
from dreamforge_core.ports.runner import AppliedLora, GenerationRequest
from tests.support.runner_listener import RecordingListener

PARAMS = GenerateParams(prompt="a red cat at dawn", width=64, height=64, steps=4)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelDescriptor]:
    built = create_demo(tmp_path_factory.mktemp("models"), now=datetime.now(UTC))
    return {m.kind: m for m in built}


@pytest.fixture(scope="module")
def runner() -> Iterator[SubprocessRunner]:
    runner = SubprocessRunner(ChildOptions(threads=1), lambda m: None)
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def images() -> dict[str, bytes]:
    """Pictures made by earlier cases, by name (each costs a generation)."""
    return {}


@pytest.fixture(scope="module")
def plain(runner: SubprocessRunner, models: dict[str, ModelDescriptor]) -> bytes:
    return _generate(runner, models)


def _generate(
    runner: SubprocessRunner,
    models: dict[str, ModelDescriptor],
    *,
    scale: float | None = None,
    params: GenerateParams = PARAMS,
    listener: RecordingListener | None = None,
) -> bytes:
    loras = () if scale is None else (AppliedLora(models["sdxl-lora"], scale),)
    request = GenerationRequest("job", 0, models["sdxl-diffusers"], params, 7, loras=loras)
    return runner.generate(request, listener or RecordingListener()).pixels


def test_a_lora_changes_the_image_and_the_plain_model_returns_after(
    runner: SubprocessRunner,
    models: dict[str, ModelDescriptor],
    plain: bytes,
    images: dict[str, Any],
) -> None:
    listener = RecordingListener()
    with_lora = images["lora"] = _generate(runner, models, scale=1.0, listener=listener)
    assert with_lora != plain
    assert listener.notes.count("lora_loaded") == 1
    assert _generate(runner, models) == plain  # no leakage into the next job
    again = RecordingListener()
    assert _generate(runner, models, scale=1.0, listener=again) == with_lora
    assert "lora_loaded" not in again.notes  # loaded once, kept while used


def test_scale_zero_equals_no_lora_and_the_scale_matters(
    runner: SubprocessRunner,
    models: dict[str, ModelDescriptor],
    plain: bytes,
    images: dict[str, Any],
) -> None:
    assert _generate(runner, models, scale=0.0) == plain
    assert _generate(runner, models, scale=-1.5) not in (plain, images.get("lora"))


def test_a_lora_that_does_not_fit_the_model_is_invalid_input(
    runner: SubprocessRunner, models: dict[str, ModelDescriptor], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    lora = replace(models["sdxl-lora"], id="broken", local_path=str(broken), checkpoint_hash="0")
    request = GenerationRequest(
        "job", 0, models["sdxl-diffusers"], PARAMS, 7, loras=(AppliedLora(lora, 1.0),)
    )
    with pytest.raises(InvalidInput, match="cannot load LoRA 'broken'"):
        runner.generate(request, RecordingListener())
    assert runner.child_pid is not None  # the child serves on


def test_previews_come_every_n_steps_and_leave_the_image_alone(
    runner: SubprocessRunner, models: dict[str, ModelDescriptor], plain: bytes
) -> None:
    listener = RecordingListener()
    params = replace(PARAMS, preview_every=3)
    assert _generate(runner, models, params=params, listener=listener) == plain
    assert [(step, total) for step, total, _ in listener.previews] == [(3, 4)]
    image = Image.open(io.BytesIO(listener.previews[0][2]))
    assert image.format == "JPEG"
    assert image.size == (8, 8)  # the latent's resolution: 1/8 of 64 px
