"""Generation parameters: the validation rules shared by the HTTP layer and `parameters_schema`.

Validation collects every broken rule before failing, so a client fixes a request in one round.
The validator and the schema stay in one module because they must state the same limits: side
by side, a rule changed in one is seen to need changing in the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dreamforge_core.domain.image_inputs import (
    INIT_IMAGE,
    INPUT_FIELDS,
    MASK_IMAGE,
    InputImage,
    image_inputs_schema,
    validate_strength,
)
from dreamforge_core.domain.loras import (
    LORAS_SCHEMA,
    PREVIEW_EVERY_SCHEMA,
    LoraUse,
    parse_loras,
    parse_preview_every,
)
from dreamforge_core.domain.presets import Preset
from dreamforge_core.domain.upscale import UPSCALE, Upscale, upscale_schema, validate_upscale
from dreamforge_core.errors import FieldError, InvalidInput

MAX_PROMPT_CHARS = 10_000
MAX_COUNT = 100
MAX_SEED = 2**32 - 1
FORMATS = ("png", "jpg")
SCHEDULERS = (
    "euler",
    "euler_a",
    "dpmpp_2m",
    "dpmpp_2m_karras",
    "dpmpp_2m_sde",
    "ddim",
    "unipc",
    "heun",
)


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """What one model accepts, and what it uses when a request is silent."""

    min_size: int = 256
    max_size: int = 2048
    size_multiple: int = 8
    min_steps: int = 1
    max_steps: int = 150
    min_guidance: float = 0.0
    max_guidance: float = 30.0
    schedulers: tuple[str, ...] = SCHEDULERS
    default_width: int = 1024
    default_height: int = 1024
    default_steps: int = 30
    default_guidance: float = 6.0
    default_scheduler: str = "dpmpp_2m_karras"

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _LIMIT_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelLimits:
        """Rebuilds stored limits: an unknown field is ignored and a missing one takes its
        default, so adding a limit needs no data migration."""
        known: dict[str, Any] = {k: v for k, v in data.items() if k in _LIMIT_FIELDS}
        if "schedulers" in known:
            known["schedulers"] = tuple(known["schedulers"])
        return cls(**known)


_LIMIT_FIELDS = tuple(ModelLimits.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class GenerateParams:
    """Normalised parameters of a `generate` job: every value present and within bounds."""

    prompt: str
    negative_prompt: str = ""
    seed: int | None = None
    width: int = 1024
    height: int = 1024
    steps: int = 30
    guidance: float = 6.0
    scheduler: str = "dpmpp_2m_karras"
    format: str = "png"
    embed_metadata: bool = True
    count: int = 1
    preset: str | None = None
    # Image-to-image and inpainting: set from the stored inputs, never from a request.
    init_image: InputImage | None = None
    mask_image: InputImage | None = None
    strength: float | None = None  # with init_image only
    upscale: Upscale | None = None  # a second step, `upscale`, per image
    loras: tuple[LoraUse, ...] = ()
    preview_every: int | None = None  # live previews every N steps; None: none

    def to_dict(self) -> dict[str, Any]:
        return {**self._text_to_image_dict(), **self._image_inputs_dict()}

    def _image_inputs_dict(self) -> dict[str, Any]:
        """Only what is set: a text-to-image request keeps the fingerprint it always had."""
        extra: dict[str, Any] = {}
        if self.init_image is not None:
            extra[INIT_IMAGE] = self.init_image.to_dict()
        if self.strength is not None:  # with init_image, or in the upscale step's pass
            extra["strength"] = self.strength
        if self.mask_image is not None:
            extra[MASK_IMAGE] = self.mask_image.to_dict()
        if self.upscale is not None:
            extra[UPSCALE] = self.upscale.to_dict()
        if self.loras:
            extra["loras"] = [u.to_dict() for u in self.loras]
        if self.preview_every is not None:
            extra["preview_every"] = self.preview_every
        return extra

    def _text_to_image_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _TEXT_TO_IMAGE_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerateParams:
        """Rebuilds stored, already validated parameters."""
        values = {k: data[k] for k in _FIELDS if k in data}
        for name in INPUT_FIELDS:
            if values.get(name) is not None:
                values[name] = InputImage.from_dict(values[name])
        if values.get(UPSCALE) is not None:
            values[UPSCALE] = Upscale.from_dict(values[UPSCALE])
        if "loras" in values:
            values["loras"] = tuple(
                LoraUse(str(u["model_id"]), float(u["scale"])) for u in values["loras"]
            )
        return cls(**values)

    @property
    def seed_honoured(self) -> bool:
        """A given seed is used only for a single image (FR-008)."""
        return self.seed is not None and self.count == 1


_FIELDS = tuple(GenerateParams.__dataclass_fields__)
# Always written, in this order; the image inputs' fields after them only when set.
_TEXT_TO_IMAGE_FIELDS = _FIELDS[: _FIELDS.index(INIT_IMAGE)]


@dataclass(slots=True)
class _Collector:
    errors: list[FieldError] = field(default_factory=list)

    def add(self, name: str, message: str) -> None:
        self.errors.append(FieldError(f"params.{name}", message))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int_in(c: _Collector, raw: Mapping[str, Any], name: str, lo: int, hi: int) -> int | None:
    if name not in raw:
        return None
    value = raw[name]
    if not _is_int(value):
        c.add(name, "must be an integer")
        return None
    if not lo <= value <= hi:
        c.add(name, f"must be between {lo} and {hi}")
        return None
    return int(value)


def _size(c: _Collector, raw: Mapping[str, Any], name: str, limits: ModelLimits) -> int | None:
    value = _int_in(c, raw, name, limits.min_size, limits.max_size)
    if value is not None and value % limits.size_multiple:
        c.add(name, f"must be a multiple of {limits.size_multiple}")
        return None
    return value


def _text(c: _Collector, raw: Mapping[str, Any], name: str, required: bool) -> str | None:
    if name not in raw:
        if required:
            c.add(name, "is required")
        return None
    value = raw[name]
    if not isinstance(value, str):
        c.add(name, "must be a string")
        return None
    if required and not value.strip():
        c.add(name, "must not be empty")
        return None
    if len(value) > MAX_PROMPT_CHARS:
        c.add(name, f"must be at most {MAX_PROMPT_CHARS} characters")
        return None
    if "\x00" in value:  # no store keeps NUL in text, and no tokenizer wants it
        c.add(name, "must not contain NUL characters")
        return None
    return value


def _choice(
    c: _Collector, raw: Mapping[str, Any], name: str, options: tuple[str, ...]
) -> str | None:
    if name not in raw:
        return None
    value = raw[name]
    if not isinstance(value, str) or value not in options:
        c.add(name, f"must be one of {', '.join(options)}")
        return None
    return value


def _guidance(c: _Collector, raw: Mapping[str, Any], limits: ModelLimits) -> float | None:
    if "guidance" not in raw:
        return None
    value = raw["guidance"]
    if not _is_number(value):
        c.add("guidance", "must be a number")
    elif not limits.min_guidance <= value <= limits.max_guidance:
        c.add("guidance", f"must be between {limits.min_guidance} and {limits.max_guidance}")
    else:
        return float(value)
    return None


def _flag(c: _Collector, raw: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        c.add(name, "must be true or false")
        return default
    return value


def _preset(c: _Collector, raw: Mapping[str, Any], presets: Mapping[str, Preset]) -> Preset | None:
    name = raw.get("preset")
    if name is None:
        return None
    if not isinstance(name, str) or name not in presets:
        c.add("preset", f"must be one of {', '.join(sorted(presets)) or '(none defined)'}")
        return None
    return presets[name]


def validate_params(raw: Any, limits: ModelLimits, presets: Mapping[str, Preset]) -> GenerateParams:
    """Checks raw `params` against the model's limits and fills defaults.

    Rules: unknown fields are rejected; a named preset supplies values the request leaves out;
    explicit values win over the preset; the model's defaults fill the rest.
    It is one function, one line per field, because every field's error joins one collector,
    so a request hears of all its broken rules in one answer.
    """
    if not isinstance(raw, Mapping):
        raise InvalidInput.for_fields([FieldError("params", "must be an object")])
    c = _Collector()
    for name in raw:
        if name not in _FIELDS:
            c.add(str(name), "is not a known parameter")
    prompt = _text(c, raw, "prompt", required=True)
    negative = _text(c, raw, "negative_prompt", required=False)
    seed = None
    if raw.get("seed") is not None:
        seed = _int_in(c, raw, "seed", 0, MAX_SEED)
    width = _size(c, raw, "width", limits)
    height = _size(c, raw, "height", limits)
    steps = _int_in(c, raw, "steps", limits.min_steps, limits.max_steps)
    guidance = _guidance(c, raw, limits)
    scheduler = _choice(c, raw, "scheduler", limits.schedulers)
    fmt = _choice(c, raw, "format", FORMATS)
    embed = _flag(c, raw, "embed_metadata", default=True)
    count = _int_in(c, raw, "count", 1, MAX_COUNT)
    preset = _preset(c, raw, presets)
    strength, problems = validate_strength(raw)
    c.errors += problems
    loras = parse_loras(raw["loras"], c.add) if "loras" in raw else ()
    preview_every = parse_preview_every(raw.get("preview_every"), c.add)
    if c.errors:
        raise InvalidInput.for_fields(c.errors)

    base = GenerateParams(
        prompt=prompt or "",
        width=limits.default_width,
        height=limits.default_height,
        steps=limits.default_steps,
        guidance=limits.default_guidance,
        scheduler=limits.default_scheduler,
    )
    if preset is not None:
        base = preset.apply(base, limits)
    params = replace(
        base,
        negative_prompt=negative if negative is not None else base.negative_prompt,
        seed=seed,
        width=width or base.width,
        height=height or base.height,
        steps=steps or base.steps,
        guidance=guidance if guidance is not None else base.guidance,
        scheduler=scheduler or base.scheduler,
        format=fmt or base.format,
        embed_metadata=embed,
        count=count or base.count,
        preset=preset.name if preset else None,
        strength=strength,
        loras=loras,
        preview_every=preview_every,
    )
    errors = []
    if params.strength is not None and denoising_steps(params) < 1:
        errors.append(
            FieldError("params.strength", f"x steps ({params.steps}) must give at least 1 step")
        )
    if raw.get(UPSCALE) is not None:
        upscale, problems = validate_upscale(
            raw[UPSCALE],
            width=params.width,
            height=params.height,
            max_size=limits.max_size,
            multiple=limits.size_multiple,
            max_steps=limits.max_steps,
        )
        errors += problems
        params = replace(params, upscale=upscale)
    if errors:
        raise InvalidInput.for_fields(errors)
    return params


def denoising_steps(params: GenerateParams) -> int:
    """The steps that run: image-to-image starts part-way, at `strength` of the schedule, and
    runs `int(steps * strength)` of them (as diffusers counts)."""
    if params.strength is None:
        return params.steps
    return min(int(params.steps * params.strength), params.steps)


def parameters_schema(limits: ModelLimits, presets: Mapping[str, Preset]) -> dict[str, Any]:
    """JSON Schema of `params` for one model, built from the same limits validation uses.
    It is one literal, a few lines over the usual length, so that it reads as the schema."""
    size = {
        "type": "integer",
        "minimum": limits.min_size,
        "maximum": limits.max_size,
        "multipleOf": limits.size_multiple,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": ["prompt"],
        "properties": {
            "prompt": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_PROMPT_CHARS,
                "pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$",
            },
            "negative_prompt": {
                "type": "string",
                "maxLength": MAX_PROMPT_CHARS,
                "pattern": "^[^\\u0000]*$",
                "default": "",
            },
            "seed": {
                "type": ["integer", "null"],
                "minimum": 0,
                "maximum": MAX_SEED,
                "description": "Honoured only when count is 1; otherwise each image gets a "
                "fresh random seed drawn as it starts.",
            },
            "width": {**size, "default": limits.default_width},
            "height": {**size, "default": limits.default_height},
            "steps": {
                "type": "integer",
                "minimum": limits.min_steps,
                "maximum": limits.max_steps,
                "default": limits.default_steps,
            },
            "guidance": {
                "type": "number",
                "minimum": limits.min_guidance,
                "maximum": limits.max_guidance,
                "default": limits.default_guidance,
            },
            "scheduler": {
                "type": "string",
                "enum": list(limits.schedulers),
                "default": limits.default_scheduler,
            },
            "format": {"type": "string", "enum": list(FORMATS), "default": "png"},
            "embed_metadata": {"type": "boolean", "default": True},
            "count": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT, "default": 1},
            "preset": {"type": ["string", "null"], "enum": [*sorted(presets), None]},
            **image_inputs_schema(),
            UPSCALE: {**upscale_schema(limits.max_steps), "type": ["object", "null"]},
            "loras": LORAS_SCHEMA,
            "preview_every": PREVIEW_EVERY_SCHEMA,
        },
    }
