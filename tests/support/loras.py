"""Small LoRA files for tests: the layout diffusers saves, with the shapes that tell a LoRA's
base (the cross-attention input of an SDXL LoRA is 2048 wide, the demo model's 80)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import save

from tests.support.launcher import run_checked

KEY = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"


def lora_bytes(width: int = 2048) -> bytes:
    """A LoRA file whose cross-attention key projection takes `width` inputs."""
    return save(
        {
            f"{KEY}.lora_A.weight": np.ones((2, width), dtype=np.float32),
            f"{KEY}.lora_B.weight": np.ones((640, 2), dtype=np.float32),
        }
    )


def import_lora(env: dict[str, str], folder: Path, name: str, width: int = 2048) -> Path:
    """Writes a LoRA file and registers it with `dreamforge model import`, as an operator
    would, into the store `env` names."""
    path = folder / f"{name}.safetensors"
    path.write_bytes(lora_bytes(width))
    run_checked(["model", "import", str(path)], env, timeout=120)
    return path
