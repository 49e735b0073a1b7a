"""A tiny LoRA for the demo model, built offline from seeded random weights.

Why: LoRA per request must run through the real runner (diffusers' `load_lora_weights`,
`set_adapters`) on machines without network. The LoRA has the layout diffusers itself saves
(`save_lora_weights`: PEFT `lora_A`/`lora_B` keys under `unet.`), targets every attention
projection of the demo UNet, and is seeded, so two builds are byte-identical. Its weights are
large enough that any non-zero scale changes the demo's (noise-like) pictures.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from dreamforge_core.domain.loras import KIND_LORA
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.params import ModelLimits
from dreamforge_core.use_cases.lora_files import addnet_hash

DEMO_LORA_ID = "demo-sdxl-tiny-lora"
DEMO_LORA_VERSION = "1"
DEMO_LORA_FILE = "demo-sdxl-tiny-lora.safetensors"
_RECIPE = 1
_SEED = 20_261_207
_RANK = 4
_AMPLITUDE = 0.5
_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
_MANIFEST = "dreamforge-demo.json"


def demo_lora_path(root: Path) -> Path:
    return root / KIND_LORA / f"{DEMO_LORA_ID}@{DEMO_LORA_VERSION}" / DEMO_LORA_FILE


def build_demo_lora(demo_folder: Path, dest: Path) -> Path:
    """Writes the LoRA for the demo diffusers folder `demo_folder` to the file `dest`."""
    import torch
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    loader: Any = UNet2DConditionModel
    unet = loader.from_pretrained(demo_folder / "unet", local_files_only=True)
    unet.add_adapter(LoraConfig(r=_RANK, lora_alpha=_RANK, target_modules=_TARGETS))
    layers = get_peft_model_state_dict(unet)
    generator = torch.Generator().manual_seed(_SEED)
    weights = {
        name: (torch.randn(tuple(t.shape), generator=generator) * _AMPLITUDE).contiguous()
        for name, t in sorted(layers.items())
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    pipe: Any = StableDiffusionXLPipeline
    pipe.save_lora_weights(
        str(dest.parent), unet_lora_layers=weights, weight_name=dest.name, safe_serialization=True
    )
    return dest


def create_demo_lora(root: Path, demo_folder: Path, now: datetime) -> ModelDescriptor:
    """Builds the demo LoRA under `root` (or reuses an intact build) and describes it."""
    from dreamforge_adapters.sdxl.demo_model import demo_descriptor, sha256_file

    path = demo_lora_path(root)
    manifest = path.parent / _MANIFEST
    sha = _intact(path, manifest)
    if sha is None:
        shutil.rmtree(path.parent, ignore_errors=True)
        build_demo_lora(demo_folder, path)
        sha = sha256_file(path)
        manifest.write_text(json.dumps({"recipe": _RECIPE, "sha256": sha}) + "\n", "utf-8")
    model = demo_descriptor(
        DEMO_LORA_ID,
        KIND_LORA,
        path,
        sha,
        now,
        version=DEMO_LORA_VERSION,
        limits=ModelLimits(),
        capability="lora",
    )
    model.provenance = {
        "source": "demo",
        "recipe": _RECIPE,
        "base_model": "demo-sdxl-tiny",
        "autov3": addnet_hash(path),
        "files": {path.name: {"sha256": sha, "size": path.stat().st_size}},
    }
    return model


def _intact(path: Path, manifest: Path) -> str | None:
    from dreamforge_adapters.sdxl.demo_model import sha256_file

    try:
        recorded = json.loads(manifest.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict) or recorded.get("recipe") != _RECIPE or not path.is_file():
        return None
    sha = sha256_file(path)
    return sha if recorded.get("sha256") == sha else None
