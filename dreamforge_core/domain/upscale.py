"""The upscale step (hires fix): each generated image enlarged by `factor`, then repainted by
an image-to-image pass of `strength` over `steps` (about int(steps x strength) of them run).

Its output size is the generated size times `factor`, rounded to the model's size multiple,
and must stay within the model's largest size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dreamforge_core.errors import FieldError

UPSCALE = "upscale"  # the parameter, and the name of the step it adds
MIN_FACTOR, MAX_FACTOR = 1.5, 2.0


@dataclass(frozen=True, slots=True)
class Upscale:
    factor: float
    strength: float
    steps: int

    def to_dict(self) -> dict[str, Any]:
        return {"factor": self.factor, "strength": self.strength, "steps": self.steps}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Upscale:
        return cls(float(data["factor"]), float(data["strength"]), int(data["steps"]))

    def size(self, width: int, height: int, multiple: int = 8) -> tuple[int, int]:
        """The enlarged size, each side rounded to `multiple`."""
        return (
            max(multiple, round(width * self.factor / multiple) * multiple),
            max(multiple, round(height * self.factor / multiple) * multiple),
        )

    @property
    def denoising_steps(self) -> int:
        return min(int(self.steps * self.strength), self.steps)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_upscale(
    raw: Any, *, width: int, height: int, max_size: int, multiple: int, max_steps: int
) -> tuple[Upscale | None, list[FieldError]]:
    """`raw` is the request's `params.upscale`; every broken rule is named by its field."""
    name = f"params.{UPSCALE}"
    if not isinstance(raw, Mapping):
        return None, [FieldError(name, "must be an object with factor, strength and steps")]
    errors = [FieldError(f"{name}.{k}", "is not a known field") for k in raw if k not in _KEYS]
    factor: Any = raw.get("factor")
    strength: Any = raw.get("strength")
    steps: Any = raw.get("steps")
    if not _number(factor) or not MIN_FACTOR <= factor <= MAX_FACTOR:
        errors.append(
            FieldError(f"{name}.factor", f"must be between {MIN_FACTOR} and {MAX_FACTOR}")
        )
    if not _number(strength) or not 0 < strength <= 1:
        errors.append(FieldError(f"{name}.strength", "must be greater than 0 and at most 1"))
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= max_steps:
        errors.append(FieldError(f"{name}.steps", f"must be an integer between 1 and {max_steps}"))
    if errors:
        return None, errors
    upscale = Upscale(float(factor), float(strength), int(steps))
    if upscale.denoising_steps < 1:
        errors.append(
            FieldError(f"{name}.strength", f"x steps ({steps}) must give at least 1 step")
        )
    big = upscale.size(width, height, multiple)
    if max(big) > max_size:
        errors.append(
            FieldError(
                f"{name}.factor",
                f"makes {big[0]}x{big[1]}, larger than this model's {max_size} pixels a side",
            )
        )
    return (None, errors) if errors else (upscale, [])


_KEYS = ("factor", "strength", "steps")


def upscale_schema(max_steps: int) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(_KEYS),
        "description": "Hires fix: a second step `upscale` per image enlarges it by factor, "
        "then repaints it by an image-to-image pass of strength over steps. The enlarged size "
        "must stay within the model's largest size.",
        "properties": {
            "factor": {"type": "number", "minimum": MIN_FACTOR, "maximum": MAX_FACTOR},
            "strength": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "steps": {"type": "integer", "minimum": 1, "maximum": max_steps},
        },
    }
