"""Live previews: the latents of a denoising step as a small JPEG, no weights.

A fixed linear map takes SDXL's four latent channels to RGB (the factors ComfyUI publishes
for its SDXL latent previews); the picture has the latent's resolution (1/8 of the image),
at most `MAX_SIDE` pixels on its long side. Inside the denoising loop it costs a 4x3 matrix
product on the device and a copy of a few kB; the JPEG is encoded by the parent process, off
the loop.
"""

from __future__ import annotations

import io
from typing import Any

MAX_SIDE = 256
JPEG_QUALITY = 70
# rows: latent channels; columns: R, G, B
SDXL_LATENT_RGB = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
SDXL_LATENT_RGB_BIAS = (0.1084, -0.0175, -0.0011)


_FACTORS: dict[str, tuple[Any, Any]] = {}  # per device: the matrix and bias, made once


def latent_preview_rgb(latents: Any, torch: Any) -> tuple[int, int, bytes]:
    """Width, height and raw 8-bit RGB of the first latent of a batch (shape 1x4xHxW).

    The child runs this inside the denoising loop: a matrix product on the device and a copy
    of H*W*3 bytes. The JPEG is made by the parent (`preview_jpeg`), off the loop."""
    with torch.no_grad():
        latent = latents[0].float()
        device = str(latent.device)
        if device not in _FACTORS:
            _FACTORS[device] = (
                torch.tensor(SDXL_LATENT_RGB, device=latent.device),
                torch.tensor(SDXL_LATENT_RGB_BIAS, device=latent.device),
            )
        factors, bias = _FACTORS[device]
        rgb = latent.permute(1, 2, 0) @ factors + bias
        pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).cpu()
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    return width, height, bytes(pixels.numpy().tobytes())


def preview_jpeg(width: int, height: int, rgb: bytes) -> bytes:
    """The preview as a JPEG, at most MAX_SIDE pixels on its long side."""
    from PIL import Image

    image = Image.frombytes("RGB", (width, height), rgb)
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
