"""Installing LoRAs: `model download` of CivitAI versions of type LORA and of Hugging Face
repositories tagged `lora` (against the fake Hub), and `model import` of LoRA files. A LoRA is
registered as `sdxl-lora` with its file as `local_path`, its base family and the hash
AUTOMATIC1111 writes; a file without LoRA tensors is refused and nothing is registered."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from dreamforge_adapters.memory import MemoryModelRegistry
from dreamforge_adapters.model_sources.civitai import CivitaiSource
from dreamforge_adapters.model_sources.hf import HfSource
from dreamforge_adapters.system import SystemClock
from dreamforge_core.domain.loras import base_family
from dreamforge_core.errors import InvalidInput
from dreamforge_core.use_cases.import_model import ImportModel
from dreamforge_core.use_cases.install_model import InstallModel
from tests.support.fake_hub import CivitaiFile, FakeHub
from tests.support.loras import lora_bytes

SDXL_LORA = lora_bytes(2048)
TINY_LORA = lora_bytes(80)
NOT_A_LORA = save({"model.diffusion_model.input_blocks.0.0.weight": np.ones((4,), np.float32)})


def addnet(data: bytes) -> str:
    length = int.from_bytes(data[:8], "little")
    return hashlib.sha256(data[8 + length :]).hexdigest()


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        server.add_civitai_model(
            7001,
            "Detail Tweaker XL",
            [
                {
                    "id": 8001,
                    "name": "v1",
                    "files": [CivitaiFile(1, "detail.safetensors", SDXL_LORA)],
                }
            ],
            model_type="LORA",
        )
        server.add_civitai_model(
            7002,
            "Fake LoRA",
            [{"id": 8002, "name": "v1", "files": [CivitaiFile(2, "fake.safetensors", NOT_A_LORA)]}],
            model_type="LORA",
        )
        server.add_civitai_model(
            7003,
            "An Embedding",
            [{"id": 8003, "name": "v1", "files": [CivitaiFile(3, "emb.safetensors", SDXL_LORA)]}],
            model_type="TextualInversion",
        )
        server.add_hf_repo(
            "org/pixel-lora",
            {"pytorch_lora_weights.safetensors": SDXL_LORA, "README.md": b"# pixel\n"},
            tags=["lora", "base_model:stabilityai/stable-diffusion-xl-base-1.0"],
        )
        yield server


@pytest.fixture
def install(hub: FakeHub, tmp_path: Path) -> Iterator[tuple[InstallModel, MemoryModelRegistry]]:
    registry = MemoryModelRegistry([])
    with (
        CivitaiSource(base_url=hub.url) as civitai,
        HfSource(endpoint=hub.url) as hf,
    ):
        sources = {"civitai": civitai, "hf": hf}
        yield InstallModel(sources, registry, SystemClock(), tmp_path / "models"), registry


def test_a_civitai_lora_installs_as_an_sdxl_lora(install: tuple, tmp_path: Path) -> None:
    installer, registry = install
    model = installer("civitai:7001").model
    assert (model.id, model.kind, base_family(model)) == (
        "detail-tweaker-xl-v8001", "sdxl-lora", "sdxl"
    )  # fmt: skip
    assert model.local_path == str(
        tmp_path / "models/sdxl-lora/detail-tweaker-xl@8001/detail.safetensors"
    )
    assert Path(model.local_path).read_bytes() == SDXL_LORA
    assert model.checkpoint_hash == hashlib.sha256(SDXL_LORA).hexdigest()
    assert model.provenance["autov3"] == addnet(SDXL_LORA)
    assert model.capabilities == ["lora"]
    assert registry.get(model.id) == model


def test_a_hugging_face_repository_tagged_lora_installs_as_an_sdxl_lora(install: tuple) -> None:
    installer, _ = install
    model = installer("hf:org/pixel-lora").model
    assert (model.kind, base_family(model)) == ("sdxl-lora", "sdxl")
    assert model.local_path is not None
    assert model.local_path.endswith("pytorch_lora_weights.safetensors")


def test_a_lora_without_lora_tensors_is_refused_and_not_registered(install: tuple) -> None:
    installer, registry = install
    with pytest.raises(InvalidInput, match="no LoRA tensors") as caught:
        installer("civitai:7002")
    assert caught.value.details["errors"][0]["field"] == "ref"
    assert registry.list(include_disabled=True) == []


def test_other_civitai_model_types_are_refused(install: tuple) -> None:
    installer, _ = install
    with pytest.raises(InvalidInput, match="not a checkpoint or LoRA"):
        installer("civitai:7003")


def test_import_tells_a_lora_by_its_tensors_and_its_base_by_its_shapes(tmp_path: Path) -> None:
    registry = MemoryModelRegistry([])
    imports = ImportModel(registry, SystemClock())
    (tmp_path / "detail.safetensors").write_bytes(SDXL_LORA)
    (tmp_path / "tiny.safetensors").write_bytes(TINY_LORA)
    (tmp_path / "plain.safetensors").write_bytes(NOT_A_LORA)
    sdxl = imports(tmp_path / "detail.safetensors")
    assert (sdxl.kind, base_family(sdxl), sdxl.provenance["autov3"]) == (
        "sdxl-lora", "sdxl", addnet(SDXL_LORA)
    )  # fmt: skip
    with pytest.raises(InvalidInput, match="cannot tell which models it fits"):
        imports(tmp_path / "tiny.safetensors")
    tiny = imports(tmp_path / "tiny.safetensors", base="demo-sdxl-tiny")
    assert base_family(tiny) == "demo-sdxl-tiny"
    assert imports(tmp_path / "plain.safetensors").kind == "sdxl-checkpoint"
    with pytest.raises(InvalidInput, match="for LoRA files only"):
        imports(tmp_path / "plain.safetensors", base="sdxl")
