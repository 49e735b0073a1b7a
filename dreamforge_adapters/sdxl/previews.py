"""Live previews (child only): the latents of a denoising step as a small JPEG, no weights.

A fixed linear map takes SDXL's four latent channels to RGB (the factors ComfyUI publishes
for its SDXL latent previews); the picture has the latent's resolution (1/8 of the image),
at most `MAX_SIDE` pixels on its long side. It costs a 4x3 matrix product on the device, a
copy of a few kB and a JPEG encode of at most 256x256: far less than one UNet step.
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


def latent_preview_jpeg(latents: Any, torch: Any) -> bytes:
    """JPEG bytes of the first latent of a batch (shape 1x4xHxW)."""
    from PIL import Image

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
        pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).cpu().numpy()
    image = Image.fromarray(pixels, "RGB")
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
