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

    from dreamforge_adapters.sdxl.pipelines import PipelineCache

    pipe, _, _ = PipelineCache(device="cpu").load(spec, runtime)  # type: ignore[arg-type]
    return _draw(pipe, seed)


def _draw(pipe: Any, seed: int) -> np.ndarray:
    """The same small seeded picture from any pipeline."""
    import torch

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


def test_a_bfloat16_vae_decode_is_kept_only_where_the_gpu_computes_in_bfloat16(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from dreamforge_adapters.sdxl.pipelines import RuntimeOptions

    wanted = {"dtype": "float16", "vae_bfloat16": True}
    assert RuntimeOptions.from_runtime(wanted, "cpu").vae_dtype is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert RuntimeOptions.from_runtime(wanted, "cuda").vae_dtype is None  # fp32 upcast stays
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    cuda = RuntimeOptions.from_runtime(wanted, "cuda")
    assert cuda.vae_dtype == torch.bfloat16
    assert cuda.load_key() != RuntimeOptions.from_runtime({"dtype": "float16"}, "cuda").load_key()


def test_a_bfloat16_vae_decodes_stably_and_close_to_float32(spec: dict[str, Any]) -> None:
    """Applied by hand on the CPU (a CPU run drops the option): what a GPU run does to the VAE."""
    import dataclasses

    import torch

    from dreamforge_adapters.sdxl import pipelines
    from dreamforge_adapters.sdxl.pipeline_setup import prepare

    options = dataclasses.replace(
        pipelines.RuntimeOptions.from_runtime({}, "cpu"), vae_dtype=torch.bfloat16
    )
    pipe = prepare(pipelines._read(spec, torch.float32), options, "cpu")  # type: ignore[arg-type]
    assert pipe.vae.dtype == torch.bfloat16
    assert pipe.vae.config.force_upcast is False
    assert pipe.unet.dtype == torch.float32  # only the VAE changes

    first = _draw(pipe, 7)
    assert np.array_equal(first, _draw(pipe, 7))
    assert not np.array_equal(first, _draw(pipe, 8))
    plain = _image(spec, {}, seed=7)
    assert 0 < np.abs(first - plain).max() < 0.05  # bfloat16's rounding, not another picture


def test_the_operators_compile_mode_replaces_the_presets_where_it_compiles() -> None:
    from dreamforge_adapters.sdxl.pipelines import PipelineCache

    wanted = {"compile": True, "compile_mode": "default"}
    assert PipelineCache(device="cuda").options_for(wanted).compile_mode == "default"
    cache = PipelineCache(device="cuda", compile_mode="reduce-overhead")
    assert cache.options_for(wanted).compile_mode == "reduce-overhead"
    assert cache.options_for({}).compile_mode is None  # a preset that does not compile
    assert PipelineCache(device="cpu", compile_mode="max-autotune").options_for(wanted) == (
        PipelineCache(device="cpu").options_for({})
    )  # never on a CPU
