"""What each image carries about how it was made (FR-022), in the forms other tools read.

`a1111_parameters` is the AUTOMATIC1111 `parameters` text that CivitAI and most image tools
parse; `as_fields` the individual values Dream Forge writes beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# AUTOMATIC1111's sampler names, and the schedule type where it differs from the default.
A1111_SAMPLERS: dict[str, tuple[str, str | None]] = {
    "euler": ("Euler", None),
    "euler_a": ("Euler a", None),
    "dpmpp_2m": ("DPM++ 2M", None),
    "dpmpp_2m_karras": ("DPM++ 2M", "Karras"),
    "dpmpp_2m_sde": ("DPM++ 2M SDE", None),
    "ddim": ("DDIM", None),
    "unipc": ("UniPC", None),
    "heun": ("Heun", None),
}


@dataclass(frozen=True, slots=True)
class ImageMetadata:
    prompt: str
    negative_prompt: str
    seed: int
    scheduler: str
    steps: int
    guidance: float
    width: int
    height: int
    model_name: str
    checkpoint_hash: str | None
    generator: str
    lora_hashes: tuple[tuple[str, str], ...] = ()  # (name, A1111 short hash) per LoRA
    # What else shaped the image, where it applies (AUTOMATIC1111's names in the text):
    denoising_strength: float | None = None  # image-to-image, inpainting, the hires pass
    mask_blur: int | None = None  # inpainting
    hires_upscale: float | None = None  # the upscale step's factor
    hires_steps: int | None = None

    def as_fields(self) -> dict[str, str]:
        return {**self._base_fields(), **{k: v for k, _, v in self._extras()}}

    def _extras(self) -> list[tuple[str, str, str]]:
        """(field name, A1111 name, value) of each optional value that is set."""
        extras = [
            ("denoising_strength", "Denoising strength", self.denoising_strength),
            ("mask_blur", "Mask blur", self.mask_blur),
            ("hires_upscale", "Hires upscale", self.hires_upscale),
            ("hires_steps", "Hires steps", self.hires_steps),
        ]
        return [(k, a, _number(v)) for k, a, v in extras if v is not None]

    def _base_fields(self) -> dict[str, str]:
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "seed": str(self.seed),
            "scheduler": self.scheduler,
            "steps": str(self.steps),
            "guidance": _number(self.guidance),
            "width": str(self.width),
            "height": str(self.height),
            "model": self.model_name,
            "checkpoint_hash": self.checkpoint_hash or "",
            "generator": self.generator,
            **({"lora_hashes": _lora_hashes(self.lora_hashes)} if self.lora_hashes else {}),
        }

    def a1111_parameters(self) -> str:
        sampler, schedule = A1111_SAMPLERS.get(self.scheduler, (self.scheduler, None))
        pairs: list[tuple[str, str]] = [("Steps", str(self.steps)), ("Sampler", sampler)]
        if schedule:
            pairs.append(("Schedule type", schedule))
        pairs += [
            ("CFG scale", _number(self.guidance)),
            ("Seed", str(self.seed)),
            ("Size", f"{self.width}x{self.height}"),
        ]
        if self.checkpoint_hash:
            pairs.append(("Model hash", self.checkpoint_hash[:10]))
        pairs.append(("Model", self.model_name))
        pairs += [(a1111, value) for _, a1111, value in self._extras()]
        if self.lora_hashes:
            pairs.append(("Lora hashes", _lora_hashes(self.lora_hashes)))
        pairs.append(("Version", self.generator))
        lines = [self.prompt]
        if self.negative_prompt:
            lines.append(f"Negative prompt: {self.negative_prompt}")
        lines.append(", ".join(f"{k}: {_quote(v)}" for k, v in pairs))
        return "\n".join(lines)


def _lora_hashes(pairs: tuple[tuple[str, str], ...]) -> str:
    """A1111's form: `name: hash, name: hash` (quoted as a whole in the parameters line)."""
    return ", ".join(f"{name}: {short}" for name, short in pairs)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _quote(value: str) -> str:
    """A1111 JSON-quotes values that would break its `k: v, k: v` line."""
    return json.dumps(value) if any(ch in value for ch in ",:\n") else value
