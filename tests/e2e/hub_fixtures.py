"""The local fake Hugging Face and CivitAI servers of the model download tests, serving the
demo model's files (a diffusers folder, its configs, a single-file checkpoint, its LoRA)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.demo import create_demo
from tests.support.fake_hub import CivitaiFile, FakeHub

TINY_REPO = "dreamforge/sdxl-tiny"
CONFIG_REPO = "dreamforge/sdxl-base-config"
CIVITAI_MODEL, CIVITAI_VERSION = 101, 202
BIG_MODEL, BIG_VERSION = 301, 302
LORA_MODEL, LORA_VERSION = 401, 402
TOKEN = "secret-token-123"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """The demo model's files: the diffusers folder, its configs, the single file, the LoRA."""
    data_dir = tmp_path_factory.mktemp("demo-src")
    create_demo(data_dir)
    models = data_dir / "models"
    [folder] = (models / "sdxl-diffusers").iterdir()
    [single_dir] = (models / "sdxl-checkpoint").iterdir()
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != "dreamforge-demo.json"
    }
    configs = {n: d for n, d in files.items() if not n.endswith(".safetensors")}
    [single] = single_dir.glob("*.safetensors")
    [lora] = (models / "sdxl-lora").glob("*/*.safetensors")
    return {
        "folder": files,
        "configs": configs,
        "single": {single.name: single.read_bytes()},
        "lora": {lora.name: lora.read_bytes()},
    }


@pytest.fixture(scope="module")
def hub(demo: dict[str, dict[str, bytes]]) -> Iterator[FakeHub]:
    server = FakeHub().start()
    server.add_hf_repo(TINY_REPO, demo["folder"])
    server.add_hf_repo(CONFIG_REPO, demo["configs"])
    [(name, data)] = demo["single"].items()
    server.add_civitai_model(
        CIVITAI_MODEL,
        "Tiny Real XL",
        [{"id": CIVITAI_VERSION, "name": "v1", "files": [CivitaiFile(1, name, data)]}],
    )
    [(lora_name, lora_data)] = demo["lora"].items()
    server.add_civitai_model(  # published as SDXL's: models downloaded here state no other base
        LORA_MODEL,
        "Tiny Detail",
        [{"id": LORA_VERSION, "name": "v1", "files": [CivitaiFile(3, lora_name, lora_data)]}],
        model_type="LORA",
    )
    server.add_civitai_model(
        BIG_MODEL,
        "Big One",
        [
            {
                "id": BIG_VERSION,
                "name": "v1",
                "files": [CivitaiFile(2, "big.safetensors", os.urandom(48 << 20))],
            }
        ],
    )
    yield server
    server.stop()
