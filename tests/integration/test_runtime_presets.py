"""The runtime presets on the demo model, as the runner loads them: each gives the same pixels
for the same seed every time (golden runs per preset), and fusing the attention projections
changes the arithmetic's order, not the picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dreamforge_adapters.sdxl.demo_model import build_demo_diffusers
from dreamforge_core.domain.presets import DEFAULT_PRESETS

#: The presets whose options take effect on a CPU (the GPU-only ones are dropped there).
CPU_PRESETS = ("quality", "h100-fast", "cpu")


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = build_demo_diffusers(tmp_path_factory.mktemp("models") / "tiny")
    return {"id": "tiny", "kind": "sdxl-diffusers", "local_path": str(Path(folder)),
            "config_path": None, "checkpoint_hash": None}  # fmt: skip


def _image(spec: dict[str, Any], runtime: dict[str, Any], seed: int) -> np.ndarray:
    import torch

    from dreamforge_adapters.sdxl.pipelines import PipelineCache

    pipe, _, _ = PipelineCache(device="cpu").load(spec, runtime)  # type: ignore[arg-type]
    out = pipe(
        "a red cat at dawn",
        width=64,
        height=64,
        num_inference_steps=3,
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="np",
    )
    return np.asarray(out.images[0])


@pytest.mark.parametrize("preset", CPU_PRESETS)
def test_each_preset_gives_the_same_pixels_for_the_same_seed(
    spec: dict[str, Any], preset: str
) -> None:
    runtime = dict(DEFAULT_PRESETS[preset].runtime)
    first = _image(spec, runtime, seed=7)
    assert np.array_equal(first, _image(spec, runtime, seed=7))
    assert not np.array_equal(first, _image(spec, runtime, seed=8))


def test_fused_projections_keep_the_picture(spec: dict[str, Any]) -> None:
    assert DEFAULT_PRESETS["h100-fast"].runtime.get("fuse_qkv") is True
    plain = _image(spec, {}, seed=3)
    fused = _image(spec, {"fuse_qkv": True}, seed=3)
    assert np.abs(plain - fused).max() < 1e-3
