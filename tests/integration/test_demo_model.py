"""The tiny demo SDXL model: built offline, deterministic, and the same in both file forms.

The real runner is tested against this model, so these tests pin what it promises: the diffusers
folder and the CivitAI-style single file load with `StableDiffusionXLPipeline`, give identical
pixels for a seed, rebuild byte for byte, and never reach the network.

Hub offline mode and the socket guard are applied around each step rather than for the session:
other tests in the same process talk to a local fake Hugging Face server and need them off.
Takes about 10-20 s on two CPU cores; skipped where torch or diffusers is not installed.

It is one module because building the model is costly: the cases share one build of each
file form.
"""

from __future__ import annotations

import importlib
import json
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from dreamforge_adapters.sdxl.demo_checkpoint import build_demo_single_file
from dreamforge_adapters.sdxl.demo_lora import DEMO_LORA_ID
from dreamforge_adapters.sdxl.demo_model import (
    DEMO_ID,
    DEMO_SINGLE_ID,
    UNET_WEIGHTS,
    create_demo,
    demo_paths,
    sha256_file,
)
from dreamforge_core.domain.loras import base_family
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.use_cases.lora_files import addnet_hash

# The demo modules import torch only when called, so these skips still apply to API-only
# installs. torch is imported by the cases, not here: every worker of a parallel run collects
# this module, and importing torch costs seconds of CPU.
_NEEDS = ("torch", "diffusers", "numpy")
pytestmark = [
    pytest.mark.skipif(not all(find_spec(m) for m in _NEEDS), reason="needs torch and diffusers"),
    pytest.mark.timeout(240),
]

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
PROMPT = "a red cat at dawn"


@contextmanager
def offline() -> Iterator[list[Any]]:
    """Hub offline mode plus a guard that refuses (and records) every internet connection.

    huggingface_hub reads HF_HUB_OFFLINE once, at import; it is imported first, with the
    caller's environment, and its constant patched for the block only.
    """
    from huggingface_hub import constants

    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"network access in an offline test: {address!r}")
        return real_connect(sock, address)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(constants, "HF_HUB_OFFLINE", True)
        mp.setattr(socket.socket, "connect", guarded)
        mp.setattr(socket.socket, "connect_ex", guarded)
        yield attempts
    assert attempts == [], f"tried to reach the network: {attempts}"


@contextmanager
def one_thread() -> Iterator[None]:
    """Tiny convolutions run several times faster on one thread than on two, and steadier."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class Demo:
    root: Path
    models: list[ModelDescriptor]

    @property
    def folder(self) -> Path:
        return Path(str(self.models[0].local_path))

    @property
    def single(self) -> Path:
        return Path(str(self.models[1].local_path))


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("demo-models")
    with offline():
        return Demo(root, create_demo(root, now=NOW))


@pytest.fixture(scope="session")
def folder_pipe(demo: Demo) -> Any:
    with offline():
        pipe = sdxl_pipeline().from_pretrained(demo.folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def single_pipe(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Loaded with a config folder that holds no weights, so every tensor must come from the file.

    (Given the full folder, diffusers would quietly take any component the file lacks from it.)
    """
    config = tmp_path_factory.mktemp("config") / "sdxl-config"
    shutil.copytree(demo.folder, config, ignore=shutil.ignore_patterns("*.safetensors"))
    with offline():
        pipe = sdxl_pipeline().from_single_file(
            str(demo.single), config=str(config), local_files_only=True
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def sdxl_pipeline() -> Any:
    from diffusers import StableDiffusionXLPipeline

    return StableDiffusionXLPipeline


def conversions() -> Any:
    """diffusers' single-file conversion module (untyped, hence Any)."""
    return importlib.import_module("diffusers.loaders.single_file_utils")


def generate(pipe: Any, *, seed: int, width: int = 64, height: int = 64, steps: int = 20) -> Any:
    import numpy as np
    import torch

    with offline(), one_thread():
        result = pipe(
            PROMPT,
            negative_prompt="blurry",
            width=width,
            height=height,
            num_inference_steps=steps,
            guidance_scale=6.0,
            generator=torch.Generator("cpu").manual_seed(seed),
            output_type="np",
        )
    return (result.images[0] * 255).round().astype(np.uint8)


def test_the_folder_loads_and_generates_a_64px_image(folder_pipe: Any) -> None:
    pixels = generate(folder_pipe, seed=1)

    assert pixels.shape == (64, 64, 3)
    assert pixels.std() > 5  # a picture, not a flat field


@pytest.mark.parametrize(("width", "height"), [(128, 128), (128, 64), (72, 88)])
def test_sizes_that_are_multiples_of_8_generate(folder_pipe: Any, width: int, height: int) -> None:
    pixels = generate(folder_pipe, seed=1, width=width, height=height, steps=2)

    assert pixels.shape == (height, width, 3)


def test_the_same_seed_gives_identical_pixels(folder_pipe: Any) -> None:
    import numpy as np

    first = generate(folder_pipe, seed=7, steps=8)
    again = generate(folder_pipe, seed=7, steps=8)
    other = generate(folder_pipe, seed=8, steps=8)

    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(("width", "height"), [(64, 64), (128, 64)])
def test_the_single_file_gives_the_folders_pixels(
    folder_pipe: Any, single_pipe: Any, width: int, height: int
) -> None:
    import numpy as np

    from_folder = generate(folder_pipe, seed=3, width=width, height=height, steps=8)
    from_file = generate(single_pipe, seed=3, width=width, height=height, steps=8)

    assert np.array_equal(from_folder, from_file)


def test_image_to_image_and_inpainting_share_the_weights_and_go_with_them(demo: Demo) -> None:
    """The runner's pipeline modes hold no second copy of the model, and drop what they made
    from a pipeline once the cache has dropped that pipeline."""
    import gc

    from dreamforge_adapters.sdxl import modes

    with offline():
        pipe = sdxl_pipeline().from_pretrained(demo.folder, local_files_only=True)
    kept = modes.PipelineModes()
    image_to_image = kept.derived_from(pipe, modes.IMAGE_TO_IMAGE)
    inpaint = kept.derived_from(pipe, modes.INPAINT)
    assert kept.derived_from(pipe, modes.INPAINT) is inpaint  # made once
    for derived in (image_to_image, inpaint):
        assert derived.unet is pipe.unet
        assert derived.vae is pipe.vae
        assert derived.text_encoder_2 is pipe.text_encoder_2
    del pipe, image_to_image, inpaint, derived
    gc.collect()
    assert len(kept) == 0


def test_the_single_file_is_recognised_as_sdxl_base(demo: Demo) -> None:
    from safetensors.torch import load_file

    assert conversions().infer_diffusers_model_type(load_file(str(demo.single))) == "xl_base"


def test_the_single_file_round_trips_through_diffusers_conversion(demo: Demo) -> None:
    """Every tensor comes back under its diffusers name, unchanged, via diffusers' own reader."""
    import torch
    from safetensors.torch import load_file

    conv = conversions()
    checkpoint = load_file(str(demo.single))

    def config(name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((demo.folder / name / "config.json").read_text())
        return loaded

    clip = {
        k.removeprefix("text_model."): v
        for k, v in conv.convert_ldm_clip_checkpoint(checkpoint).items()
    }
    back = {
        "unet/diffusion_pytorch_model": conv.convert_ldm_unet_checkpoint(
            checkpoint, config("unet")
        ),
        "vae/diffusion_pytorch_model": conv.convert_ldm_vae_checkpoint(checkpoint, config("vae")),
        "text_encoder/model": clip,
        "text_encoder_2/model": conv.convert_open_clip_checkpoint(
            None, checkpoint, prefix="conditioner.embedders.1.model."
        ),
    }
    for name, converted in back.items():
        original = load_file(str(demo.folder / f"{name}.safetensors"))
        assert converted.keys() == original.keys(), name
        assert all(torch.equal(converted[k], original[k]) for k in original), name


def test_a_rebuild_is_byte_identical(demo: Demo, tmp_path: Path) -> None:
    with offline():
        rebuilt = create_demo(tmp_path, now=NOW)

    for first, second in zip(demo.models, rebuilt, strict=True):
        assert second.checkpoint_hash == first.checkpoint_hash
        assert second.provenance["files"] == first.provenance["files"]


def test_an_intact_build_is_reused_and_a_damaged_one_rebuilt(demo: Demo, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(demo.root, root)
    folder, single = demo_paths(root)
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}

    with offline():
        create_demo(root, now=NOW)
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == stamps

    single.write_bytes(b"not a checkpoint")
    with offline():
        repaired = create_demo(root, now=NOW)
    assert sha256_file(single) == demo.models[1].checkpoint_hash == repaired[1].checkpoint_hash
    assert (folder / UNET_WEIGHTS).stat().st_mtime_ns == stamps[folder / UNET_WEIGHTS]


def test_build_demo_single_file_writes_where_asked(demo: Demo, tmp_path: Path) -> None:
    dest = tmp_path / "nested" / "model.safetensors"

    assert build_demo_single_file(demo.folder, dest) == dest
    assert sha256_file(dest) == demo.models[1].checkpoint_hash
    assert list(dest.parent.iterdir()) == [dest]  # no partial file left behind


def test_the_descriptors_describe_both_forms_and_the_lora(demo: Demo) -> None:
    folder_model, single_model, lora = demo.models

    assert (folder_model.id, folder_model.name, folder_model.kind) == (
        DEMO_ID,
        DEMO_ID,
        "sdxl-diffusers",
    )
    assert (single_model.id, single_model.name, single_model.kind) == (
        DEMO_SINGLE_ID,
        DEMO_SINGLE_ID,
        "sdxl-checkpoint",
    )
    assert folder_model.checkpoint_hash == sha256_file(demo.folder / UNET_WEIGHTS)
    assert single_model.checkpoint_hash == sha256_file(demo.single)
    assert demo.single.parent.parent == demo.root / "sdxl-checkpoint"
    assert demo.folder.parent == demo.root / "sdxl-diffusers"
    assert single_model.provenance == {
        "source": "demo",
        "recipe": 1,
        "base_model": DEMO_ID,
        "config_path": str(demo.folder),
        "files": {demo.single.name: single_model.checkpoint_hash},
    }
    assert folder_model.provenance["files"][UNET_WEIGHTS] == folder_model.checkpoint_hash
    # the LoRA fits the demo's family (both forms), not SDXL's
    assert {base_family(m) for m in demo.models} == {DEMO_ID}
    assert (lora.id, lora.kind, lora.capabilities) == (DEMO_LORA_ID, "sdxl-lora", ["lora"])
    assert lora.checkpoint_hash == sha256_file(Path(str(lora.local_path)))
    assert lora.provenance["autov3"] == addnet_hash(Path(str(lora.local_path)))
    assert (lora.version, lora.installed, lora.enabled) == ("1", True, True)
    for model in (folder_model, single_model):
        assert model.version == "1"
        assert model.installed
        assert model.enabled
        assert model.capabilities == ["generate"]
        assert model.created_at == model.updated_at == NOW
        limits = model.limits
        assert (limits.min_size, limits.max_size) == (64, 512)
        assert (limits.default_width, limits.default_height, limits.default_steps) == (128, 128, 20)
        assert model.short_hash == str(model.checkpoint_hash)[:10]


def test_the_offline_guard_refuses_connections() -> None:
    """The guard used above really stops a connection, so its silence means something."""
    with offline() as attempts:
        with pytest.raises(OSError, match="network access"):
            socket.create_connection(("192.0.2.1", 443), timeout=1)
        assert attempts == [("192.0.2.1", 443)]
        attempts.clear()
