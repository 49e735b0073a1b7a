"""LoRA per request and live previews: the `params.loras` and `params.preview_every` rules.

A LoRA is a model of kind `sdxl-lora`. It fits the models of one base family: `sdxl` for
SDXL checkpoints and the LoRAs made for them (CivitAI's "SDXL 1.0", "SDXL Turbo", … all
count as `sdxl`), or the family a model states in its provenance (`base_model`), such as the
tiny demo model's own. A model of no family (the fake runner's) takes any LoRA.

Shapes are checked here, with the other parameters; whether each named LoRA is installed,
enabled and of the job's family is checked against the registry (`check_loras`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dreamforge_core.errors import FieldError

if TYPE_CHECKING:  # model.py imports params.py, which imports this module
    from dreamforge_core.domain.model import ModelDescriptor

KIND_LORA = "sdxl-lora"
MAX_LORAS = 5
MIN_SCALE, MAX_SCALE = -2.0, 2.0

LORAS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": MAX_LORAS,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["model_id"],
        "properties": {
            "model_id": {"type": "string", "minLength": 1},
            "scale": {"type": "number", "minimum": MIN_SCALE, "maximum": MAX_SCALE, "default": 1},
        },
    },
    "description": "Installed sdxl-lora models of the job's base family, each named once.",
}
PREVIEW_EVERY_SCHEMA: dict[str, Any] = {
    "type": ["integer", "null"],
    "minimum": 1,
    "description": "Live SSE `preview` events every N denoising steps; never stored.",
}


@dataclass(frozen=True, slots=True)
class LoraUse:
    """One LoRA a request applies, and how strongly."""

    model_id: str
    scale: float

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "scale": self.scale}


def base_family(model: ModelDescriptor) -> str | None:
    """The family of models `model` belongs to (see the module docstring)."""
    stated = model.provenance.get("base_model")
    if isinstance(stated, str) and stated.strip():
        return family_of(stated)
    return "sdxl" if model.kind.startswith("sdxl") else None


def family_of(base_model: str) -> str:
    """CivitAI's and Hugging Face's names of SDXL bases reduced to `sdxl`; others lower-cased."""
    name = base_model.strip().lower()
    if name.startswith("sdxl") or "stable-diffusion-xl" in name:
        return "sdxl"
    return name


def parse_loras(raw: Any, add: Callable[[str, str], None]) -> tuple[LoraUse, ...]:
    """The shape of `params.loras`: a list of at most MAX_LORAS `{model_id, scale}` objects,
    each model named once. Problems go to `add(field, message)`."""
    if not isinstance(raw, list):
        add("loras", "must be a list of {model_id, scale} objects")
        return ()
    if len(raw) > MAX_LORAS:
        add("loras", f"must hold at most {MAX_LORAS} LoRAs")
        return ()
    uses: list[LoraUse] = []
    for i, entry in enumerate(raw):
        name = f"loras[{i}]"
        if not isinstance(entry, Mapping):
            add(name, "must be an object with model_id and scale")
            continue
        for key in entry:
            if key not in ("model_id", "scale"):
                add(f"{name}.{key}", "is not a known field")
        model_id, scale = entry.get("model_id"), entry.get("scale", 1.0)
        if not isinstance(model_id, str) or not model_id:
            add(f"{name}.model_id", "must be the id of an installed sdxl-lora model")
            continue
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            add(f"{name}.scale", "must be a number")
            continue
        if not MIN_SCALE <= scale <= MAX_SCALE:
            add(f"{name}.scale", f"must be between {MIN_SCALE:g} and {MAX_SCALE:g}")
            continue
        if any(u.model_id == model_id for u in uses):
            add(f"{name}.model_id", f"{model_id!r} is named twice")
            continue
        uses.append(LoraUse(model_id, float(scale)))
    return tuple(uses)


def parse_preview_every(raw: Any, add: Callable[[str, str], None]) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        add("preview_every", "must be an integer")
        return None
    if raw < 1:
        add("preview_every", "must be at least 1 (or null: no previews)")
        return None
    return int(raw)


def check_loras(
    uses: Sequence[LoraUse],
    model: ModelDescriptor,
    lookup: Callable[[str], ModelDescriptor | None],
) -> list[FieldError]:
    """What is wrong with the LoRAs a job on `model` names: unknown, not a LoRA, not
    installed, disabled, or made for another base family."""
    errors: list[FieldError] = []
    family = base_family(model)
    for i, use in enumerate(uses):
        name = f"params.loras[{i}].model_id"
        lora = lookup(use.model_id)
        if lora is None or lora.kind != KIND_LORA:
            what = "unknown" if lora is None else f"a {lora.kind} model, not a LoRA"
            errors.append(FieldError(name, f"{use.model_id!r} is {what}"))
        elif not lora.installed or not lora.enabled:
            errors.append(FieldError(name, f"LoRA {use.model_id!r} is not installed or disabled"))
        elif family is not None and base_family(lora) != family:
            errors.append(
                FieldError(
                    name,
                    f"LoRA {use.model_id!r} is made for {base_family(lora)} models; "
                    f"{model.id!r} is a {family} model",
                )
            )
    return errors
