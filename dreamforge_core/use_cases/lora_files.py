"""Reading a LoRA file's safetensors header: is it a LoRA, which base does it fit, its hash.

A safetensors file starts with an 8-byte little-endian header length and a JSON header naming
every tensor with its shape, so all of this is known without loading a tensor (and without
torch). The hash AUTOMATIC1111 writes in `Lora hashes`, and CivitAI publishes as `AutoV3`,
is the sha256 of the bytes after that header (the "addnet" hash): metadata edits keep it.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

from dreamforge_core.domain.loras import KIND_LORA
from dreamforge_core.domain.model import ModelDescriptor

_MAX_HEADER = 100 * 2**20  # safetensors' own limit
_READ_BYTES = 1 << 20
#: The cross-attention width of SDXL's UNet: the input width of a LoRA's `attn2.to_k` down
#: projection tells an SDXL LoRA (2048) from an SD 1.x (768) or 2.x (1024) one.
SDXL_CONTEXT_WIDTH = 2048


class NotALora(ValueError):
    """The file is no safetensors LoRA (unreadable header, or no LoRA tensors)."""


def read_header(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if not 2 <= length <= _MAX_HEADER:
                raise NotALora(f"{path.name}: not a safetensors file")
            header = json.loads(f.read(length))
    except (OSError, struct.error, ValueError) as e:
        raise NotALora(f"{path.name}: unreadable safetensors header ({e})") from e
    if not isinstance(header, dict):
        raise NotALora(f"{path.name}: malformed safetensors header")
    return header


def is_lora(header: dict[str, Any]) -> bool:
    """Kohya (`lora_down`/`lora_up`), diffusers/PEFT (`lora_A`/`lora_B`) or `lora.down` keys."""
    return any("lora" in key.lower() for key in header if key != "__metadata__")


def context_width(header: dict[str, Any]) -> int | None:
    """The input width of the first cross-attention key projection's down matrix."""
    for key, entry in header.items():
        low = key.lower().replace("_", ".")
        if "attn2" in low and "to.k" in low and ("lora.a." in low or "lora.down" in low):
            shape = entry.get("shape") if isinstance(entry, dict) else None
            if isinstance(shape, list) and len(shape) == 2:
                return int(shape[1])
    return None


def addnet_hash(path: Path) -> str:
    """sha256 of the tensor bytes (everything after the header): A1111's and CivitAI's AutoV3."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        f.seek(8 + length)
        while chunk := f.read(_READ_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def lora_base(header: dict[str, Any]) -> str | None:
    """`sdxl` for a LoRA whose cross-attention width is SDXL's; None when it cannot be told."""
    return "sdxl" if context_width(header) == SDXL_CONTEXT_WIDTH else None


def a1111_lora_hash(model: ModelDescriptor) -> str | None:
    """The 12 hex digits A1111 writes for a LoRA in `Lora hashes` (recorded at install)."""
    if model.kind != KIND_LORA:
        return None
    value = model.provenance.get("autov3")
    return str(value)[:12] if isinstance(value, str) and value else None


def describe_lora(model: ModelDescriptor, path: Path, base: str | None = None) -> ModelDescriptor:
    """`model` as the registry keeps a LoRA: its file as `local_path`, its A1111 hash and its
    base family (`base`, else the one its source stated, else the one its shapes show).
    Raises NotALora for a file without LoRA tensors or whose base cannot be told."""
    header = read_header(path)
    if not is_lora(header):
        raise NotALora(f"{path.name}: no LoRA tensors (lora_A/lora_B or lora_down/lora_up)")
    stated = model.provenance.get("base_model")
    chosen = base or (stated if isinstance(stated, str) and stated else None) or lora_base(header)
    if chosen is None:
        width = context_width(header)
        raise NotALora(
            f"{path.name}: cannot tell which models it fits (cross-attention width "
            f"{width or 'unknown'}, SDXL's is {SDXL_CONTEXT_WIDTH}); name its base model"
        )
    return replace(
        model,
        kind=KIND_LORA,
        local_path=str(path),
        capabilities=["lora"],
        provenance={**model.provenance, "base_model": chosen, "autov3": addnet_hash(path)},
    )
