"""LoRAs on a loaded pipeline: each loaded once, kept while used, applied per request with
its scale, and off for a request that names none (the child applies them; `lora_spec` is
what the parent sends).

An adapter is named after the file's sha256, so a LoRA file replaced under the same model id
is a new adapter. Up to `MAX_KEPT` adapters stay loaded on a pipeline (least recently used
ones go first, never one the request needs); they live as long as the pipeline, so evicting
the model drops its LoRAs too. A LoRA on a pipeline with fused attention projections unfuses
them first (they would skip the LoRA's layers). `disable_lora` skips every LoRA layer, so a
request without LoRAs gives the plain model's pixels, bit for bit.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from dreamforge_core.ports.runner import AppliedLora

MAX_KEPT = 8
_KEPT_ATTR = "_dreamforge_loras"


class LoraSpec(TypedDict):
    id: str
    path: str
    sha256: str
    scale: float


class LoraLoadError(Exception):
    """The LoRA's file is missing or does not fit the model: the request's fault."""


def lora_spec(lora: AppliedLora) -> LoraSpec:
    """What the parent sends the child about one LoRA of a request."""
    model = lora.model
    return LoraSpec(
        id=model.id,
        path=str(model.local_path),
        sha256=model.checkpoint_hash or model.id,
        scale=lora.scale,
    )


def adapter_name(spec: Mapping[str, Any]) -> str:
    return f"lora_{str(spec['sha256'])[:16]}"


def apply_loras(pipe: Any, specs: Sequence[LoraSpec]) -> list[str]:
    """Makes exactly `specs` active at their scales; returns the ids of LoRAs loaded now."""
    kept: OrderedDict[str, str] = pipe.__dict__.setdefault(_KEPT_ATTR, OrderedDict())
    if specs and getattr(pipe.unet, "original_attn_processors", None) is not None:
        # Fused query/key/value projections (preset fuse_qkv) would bypass the LoRA layers
        # on them: the pipeline goes back to separate projections for as long as it lives.
        pipe.unet.unfuse_qkv_projections()
    wanted = [adapter_name(s) for s in specs]
    loaded_now = []
    for name, spec in zip(wanted, specs, strict=True):
        if name in kept:
            kept.move_to_end(name)
            continue
        _load(pipe, spec, name)
        kept[name] = spec["id"]
        loaded_now.append(spec["id"])
    for name in [n for n in kept if n not in wanted][: max(0, len(kept) - MAX_KEPT)]:
        pipe.delete_adapters(name)
        del kept[name]
    if specs:
        pipe.enable_lora()
        pipe.set_adapters(wanted, adapter_weights=[float(s["scale"]) for s in specs])
    elif kept:
        pipe.disable_lora()
    return loaded_now


def _load(pipe: Any, spec: LoraSpec, name: str) -> None:
    from diffusers.utils import logging as diffusers_logging

    level = diffusers_logging.get_verbosity()
    # A LoRA for the UNet alone makes diffusers warn once per text encoder: not worth a line.
    diffusers_logging.set_verbosity_error()
    try:
        pipe.load_lora_weights(spec["path"], adapter_name=name)
    except Exception as e:
        with contextlib.suppress(Exception):  # a half-loaded adapter must not stay behind
            pipe.delete_adapters(name)
        raise LoraLoadError(f"cannot load LoRA {spec['id']!r}: {e!r}") from e
    finally:
        diffusers_logging.set_verbosity(level)
