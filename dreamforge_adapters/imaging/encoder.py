"""Pillow encoder: PNG or JPEG bytes carrying the metadata other tools read (FR-022).

PNG gets the AUTOMATIC1111 `parameters` chunk, one chunk per `ImageMetadata.as_fields()` entry
and a `dreamforge` JSON chunk. JPEG has no text chunks, so the A1111 text goes to EXIF
UserComment and the JSON fields to ImageDescription. `metadata=None` (embed_metadata=false)
writes neither: the caller asked for an image that says nothing about how it was made.
"""

from __future__ import annotations

import io
import json

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from dreamforge_adapters.imaging.conventions import (
    FIELDS_KEY,
    MAX_EXIF_BYTES,
    PARAMETERS_KEY,
    RESERVED_KEYS,
    UNICODE_PREFIX,
)
from dreamforge_adapters.imaging.exif import build_exif
from dreamforge_core.domain.metadata import ImageMetadata
from dreamforge_core.errors import DreamForgeError
from dreamforge_core.ports.image_encoder import ImageEncoder
from dreamforge_core.ports.runner import GeneratedImage

# zlib level 1. Measured on a noisy, photo-like 1024x1024 RGB image here: level 1 takes ~90 ms
# for 1.81 MB, level 3 ~130 ms for 1.78 MB, levels 4-9 take 195-320 ms for ~1.55 MB. Level 1
# buys nearly all of the compression below the default (6) at under a third of its time, and
# encoding sits on every item's path; ~15% larger files cost less than the CPU time.
PNG_COMPRESS_LEVEL = 1

# No visible loss on generated images at about a sixth of the PNG size; Pillow's default 4:2:0
# subsampling and no `optimize` pass keep it at ~4 ms for 1024x1024.
JPEG_QUALITY = 92


class PillowImageEncoder(ImageEncoder):
    """Encodes raw 8-bit RGB pixels; a failure here is our bug, so it is raised as `internal`."""

    def __init__(
        self, *, png_compress_level: int = PNG_COMPRESS_LEVEL, jpeg_quality: int = JPEG_QUALITY
    ) -> None:
        self._png_level = png_compress_level
        self._jpeg_quality = jpeg_quality

    def encode(self, image: GeneratedImage, fmt: str, metadata: ImageMetadata | None) -> bytes:
        if fmt not in ("png", "jpg"):
            raise DreamForgeError(f"cannot encode images as {fmt!r}: only png and jpg")
        out = io.BytesIO()
        try:
            picture = Image.frombytes("RGB", (image.width, image.height), image.pixels)
            if fmt == "png":
                pnginfo = _png_text(metadata) if metadata is not None else None
                picture.save(out, format="PNG", compress_level=self._png_level, pnginfo=pnginfo)
            elif metadata is not None:
                picture.save(out, format="JPEG", quality=self._jpeg_quality, exif=_exif(metadata))
            else:
                picture.save(out, format="JPEG", quality=self._jpeg_quality)
        except (OSError, ValueError) as e:
            raise DreamForgeError(
                f"could not encode a {image.width}x{image.height} image as {fmt}: {e}"
            ) from e
        return out.getvalue()


def _png_text(metadata: ImageMetadata) -> PngInfo:
    fields = metadata.as_fields()
    info = PngInfo()
    _add_text(info, PARAMETERS_KEY, metadata.a1111_parameters())
    for key, value in fields.items():
        # ComfyUI owns the `prompt` chunk (its API graph as JSON) and fails to import a PNG
        # whose `prompt` is plain text; our prompt is in `parameters` and `dreamforge`.
        if key not in RESERVED_KEYS:
            _add_text(info, key, value)
    # ASCII JSON stays a plain tEXt chunk that any reader can load, whatever the prompt.
    info.add_text(FIELDS_KEY, json.dumps(fields, ensure_ascii=True))
    return info


def _add_text(info: PngInfo, key: str, value: str) -> None:
    """tEXt is latin-1 only; anything else (a prompt with "猫") must go to a UTF-8 iTXt chunk."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        info.add_itxt(key, value)
    else:
        info.add_text(key, value)


def _exif(metadata: ImageMetadata) -> bytes:
    """EXIF must fit one 64 KiB APP1 segment; when long prompts overflow it, our JSON copy goes
    first and then the A1111 text, rather than failing the job or writing a truncated prompt."""
    description = json.dumps(metadata.as_fields(), ensure_ascii=True)
    comment = UNICODE_PREFIX + metadata.a1111_parameters().encode("utf-16-be")
    for kept in ((description, comment), (None, comment), (None, None)):
        exif = build_exif(metadata.generator, *kept)
        if len(exif) <= MAX_EXIF_BYTES:
            break
    return exif
