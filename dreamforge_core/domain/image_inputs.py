"""Images a request brings: how they are named, recognised, bounded and kept with the job.

An input is a `data:` URL (PNG, JPEG or WebP, base64) or `artifact:<job_id>/<item_index>`.
It is recognised by its first bytes, never by the type a client names, and bounded in bytes
here and in pixels by the reader before anything is decoded. The job stores the prepared
input (resized to its size, as PNG) under `inputs/`, so every attempt uses the same bytes;
its parameters keep the input's sha256 and where it came from, never the bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from dreamforge_core.domain.artifact import job_prefix
from dreamforge_core.errors import FieldError

INIT_IMAGE = "init_image"
MASK_IMAGE = "mask_image"
INPUT_FIELDS = (INIT_IMAGE, MASK_IMAGE)
FORMATS = ("png", "jpeg", "webp")
#: Largest decoded input; a request carrying images may be 16 MiB, base64 included.
MAX_INPUT_BYTES = 8 * 1024 * 1024
#: Largest input in pixels, read from its header before it is decoded (decompression bombs).
MAX_INPUT_PIXELS = 4096 * 4096
#: How far a mask's width/height ratio may stray from the image's.
ASPECT_TOLERANCE = 0.01
#: The mask's edge is blurred by this many pixels, as AUTOMATIC1111 does by default, so a
#: repainted region blends into what is kept.
MASK_BLUR = 4
DEFAULT_STRENGTH = 0.75

_ARTIFACT = re.compile(r"^artifact:([A-Za-z0-9_-]{1,64})/(\d{1,6})$")
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?((?:;[\w.+-]+=[\w.+-]+)*);base64,", re.ASCII)


class BadInput(Exception):
    """Raised with the message a client sees beside the field that holds the input."""


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    job_id: str
    item_index: int

    def __str__(self) -> str:
        return f"artifact:{self.job_id}/{self.item_index}"


def parse_reference(value: Any) -> bytes | ArtifactRef:
    """The bytes of a `data:` URL, or the artifact a reference names; BadInput otherwise."""
    if not isinstance(value, str):
        raise BadInput("must be a data: URL or artifact:<job_id>/<item_index>")
    match = _ARTIFACT.match(value)
    if match:
        return ArtifactRef(match.group(1), int(match.group(2)))
    head = _DATA_URL.match(value)
    if head is None:
        raise BadInput("must be a base64 data: URL or artifact:<job_id>/<item_index>")
    encoded = value[head.end() :]
    if len(encoded) > MAX_INPUT_BYTES * 4 // 3 + 4:  # refused before it is decoded
        raise BadInput(f"is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("is not valid base64") from None


def sniff_format(data: bytes) -> str | None:
    """The image format its first bytes give away, whatever a client calls it."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check_bytes(data: bytes) -> str:
    """The input's format; BadInput when it is too large or not a PNG, JPEG or WebP."""
    if len(data) > MAX_INPUT_BYTES:
        raise BadInput(f"is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    fmt = sniff_format(data)
    if fmt is None:
        raise BadInput("is not a PNG, JPEG or WebP image")
    return fmt


def same_aspect(a: tuple[int, int], b: tuple[int, int]) -> bool:
    ratio_a, ratio_b = a[0] / a[1], b[0] / b[1]
    return abs(ratio_a - ratio_b) <= ASPECT_TOLERANCE * ratio_a


@dataclass(frozen=True, slots=True)
class InputImage:
    """What a job's parameters keep of an input: its prepared bytes' hash and its origin."""

    sha256: str
    source: str  # "data", or the artifact reference it was read from
    width: int  # as sent, before it was resized
    height: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputImage:
        return cls(
            str(data["sha256"]), str(data["source"]), int(data["width"]), int(data["height"])
        )


def input_key(user: str, job_id: str, name: str) -> str:
    """`dreamforge/{user}/jobs/{job_id}/inputs/{name}.png`: the prepared input of a job."""
    return f"{job_prefix(user, job_id)}inputs/{name}.png"


def is_input_key(user: str, job_id: str, key: str) -> bool:
    return key.startswith(f"{job_prefix(user, job_id)}inputs/")


def validate_strength(raw: Mapping[str, Any]) -> tuple[float | None, list[FieldError]]:
    """`strength` with an `init_image` (DEFAULT_STRENGTH when not given), and the rule that a
    mask needs an image; the images themselves are read by the use case that stores them."""
    errors = []
    if MASK_IMAGE in raw and INIT_IMAGE not in raw:
        errors.append(FieldError(f"params.{MASK_IMAGE}", "needs init_image (the image to repaint)"))
    if "strength" not in raw:
        return (DEFAULT_STRENGTH if INIT_IMAGE in raw else None), errors
    value = raw["strength"]
    if INIT_IMAGE not in raw:
        errors.append(FieldError("params.strength", "needs init_image (image-to-image)"))
    elif not isinstance(value, int | float) or isinstance(value, bool):
        errors.append(FieldError("params.strength", "must be a number"))
    elif not 0 < value <= 1:
        errors.append(FieldError("params.strength", "must be greater than 0 and at most 1"))
    else:
        return float(value), errors
    return None, errors


def image_inputs_schema() -> dict[str, Any]:
    """The `params` schema of the inputs, beside the one of the other parameters."""
    image = {
        "type": "string",
        "pattern": "^(data:[^,]*;base64,|artifact:[A-Za-z0-9_-]+/[0-9]+$)",
    }
    return {
        INIT_IMAGE: {
            **image,
            "description": "Image-to-image: a base64 data: URL of a PNG, JPEG or WebP image, "
            "or artifact:<job_id>/<item_index> naming an image of an earlier job of the same "
            f"API key; at most {MAX_INPUT_BYTES // 2**20} MiB and {MAX_INPUT_PIXELS} pixels, "
            "resized to width x height.",
        },
        MASK_IMAGE: {
            **image,
            "description": "Inpainting (needs init_image): white is repainted, black kept; "
            "the same aspect ratio as init_image.",
        },
        "strength": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "default": DEFAULT_STRENGTH,
            "description": "With init_image: how much of it is repainted (1: all of it); "
            "about strength x steps denoising steps run.",
        },
    }
