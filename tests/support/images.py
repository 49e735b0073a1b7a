"""Small input images for image-to-image and inpainting requests, made in code."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image


def encoded(
    width: int, height: int, fmt: str = "PNG", mode: str = "RGB", color: object = None
) -> bytes:
    """A picture with some structure (a diagonal gradient), or one colour when `color` is set."""
    if color is not None:
        image = Image.new(mode, (width, height), color)  # type: ignore[arg-type]
    else:
        image = Image.linear_gradient("L").resize((width, height)).convert(mode)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def png_url(width: int = 64, height: int = 64, **kwargs: object) -> str:
    return data_url(encoded(width, height, **kwargs))  # type: ignore[arg-type]


def mask_url(width: int = 64, height: int = 64) -> str:
    """White (repaint) on the right half, black (keep) on the left."""
    image = Image.new("L", (width, height), 0)
    image.paste(255, (width // 2, 0, width, height))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return data_url(out.getvalue())


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`x`height` and whose pixel data is a few bytes: a
    decompression bomb's shape, refused before anything is decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
