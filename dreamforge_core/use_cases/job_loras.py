"""The LoRAs of a running job, as the registry describes them now."""

from __future__ import annotations

from collections.abc import Sequence

from dreamforge_core.domain.loras import KIND_LORA, LoraUse
from dreamforge_core.errors import InvalidInput
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.ports.runner import AppliedLora
from dreamforge_core.use_cases.lora_files import a1111_lora_hash


def applied_loras(
    registry: ModelRegistry, uses: Sequence[LoraUse], job_id: str
) -> tuple[AppliedLora, ...]:
    """Each LoRA the job names with its installed files; one removed since the job was
    accepted fails the job as bad input (a retry would not bring it back)."""
    applied = []
    for use in uses:
        model = registry.get(use.model_id)
        if model is None or model.kind != KIND_LORA or not model.installed or not model.local_path:
            raise InvalidInput(f"LoRA {use.model_id!r} is no longer installed", job_id=job_id)
        applied.append(AppliedLora(model, use.scale))
    return tuple(applied)


def lora_hashes(registry: ModelRegistry, uses: Sequence[LoraUse]) -> tuple[tuple[str, str], ...]:
    """(name, A1111 short hash) of each LoRA with a recorded hash, for `Lora hashes`."""
    pairs = []
    for use in uses:
        model = registry.get(use.model_id)
        short = a1111_lora_hash(model) if model is not None else None
        if model is not None and short:
            pairs.append((model.name, short))
    return tuple(pairs)
