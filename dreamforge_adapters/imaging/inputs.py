"""Pillow reader of the images a request brings (image-to-image and inpainting inputs).

Pillow reads only the header on `open`, so the pixel bound is checked before a single pixel
is decoded; `load` then decodes all of it, which is where a truncated file shows.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from dreamforge_core.domain.image_inputs import MAX_INPUT_PIXELS, BadInput, sniff_format
from dreamforge_core.ports.input_images import InputImageReader, PreparedImage

_PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_PNG_COMPRESS_LEVEL = 1  # inputs are read once per item; size matters less than time


class PillowInputReader(InputImageReader):
    def prepare(self, data: bytes, width: int, height: int, *, mask: bool) -> PreparedImage:
        fmt = sniff_format(data)
        if fmt is None:
            raise BadInput("is not a PNG, JPEG or WebP image")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[fmt]]) as picture:
                    sent = picture.size
                    if sent[0] * sent[1] > MAX_INPUT_PIXELS:
                        raise BadInput(
                            f"is {sent[0]}x{sent[1]} pixels, more than {MAX_INPUT_PIXELS}"
                        )
                    picture.load()
                    upright = ImageOps.exif_transpose(picture)
        except BadInput:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise BadInput(f"holds more than {MAX_INPUT_PIXELS} pixels") from None
        except (OSError, ValueError, SyntaxError) as e:  # Pillow's ways of saying "broken"
            raise BadInput(f"is not a readable {fmt.upper()} image ({e})") from None
        converted = upright.convert("L" if mask else "RGB")
        if converted.size != (width, height):
            converted = converted.resize((width, height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        converted.save(out, format="PNG", compress_level=_PNG_COMPRESS_LEVEL)
        return PreparedImage(out.getvalue(), upright.width, upright.height)
