"""Which pipeline runs a request: text-to-image, image-to-image or inpainting, all three over
the one set of loaded weights.

diffusers' `from_pipe` builds the image-to-image and inpainting pipelines from the loaded
text-to-image pipeline's components (UNet, VAE, text encoders, tokenizers): no weights are
read or copied. Each derived pipeline is kept beside the pipeline it came from and goes when
the cache drops that one.

Only the child process imports this module (it imports torch and diffusers).
"""

from __future__ import annotations

import io
from typing import Any
from weakref import WeakKeyDictionary

from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLInpaintPipeline
from PIL import Image, ImageFilter

from dreamforge_adapters.sdxl.child_request import Request
from dreamforge_core.domain.image_inputs import MASK_BLUR

IMAGE_TO_IMAGE: Any = StableDiffusionXLImg2ImgPipeline
INPAINT: Any = StableDiffusionXLInpaintPipeline


def _picture(data: bytes, mode: str, size: tuple[int, int]) -> Image.Image:
    """The input at the request's size: the upscale step's image is enlarged here."""
    with Image.open(io.BytesIO(data)) as picture:
        converted = picture.convert(mode)
    if converted.size != size:
        converted = converted.resize(size, Image.Resampling.LANCZOS)
    return converted


class PipelineModes:
    def __init__(self) -> None:
        self._derived: WeakKeyDictionary[Any, dict[str, Any]] = WeakKeyDictionary()

    def select(self, pipe: Any, request: Request) -> tuple[Any, dict[str, Any]]:
        """The pipeline for `request` and the arguments its mode adds to the common ones."""
        if request.init_image is None:
            return pipe, {"width": request.width, "height": request.height}
        size = (request.width, request.height)
        image = _picture(request.init_image, "RGB", size)
        if request.mask_image is None:
            # the output takes the init image's size, which is the request's now
            return self.derived_from(pipe, IMAGE_TO_IMAGE), {
                "image": image,
                "strength": request.strength,
            }
        mask = _picture(request.mask_image, "L", size).filter(ImageFilter.GaussianBlur(MASK_BLUR))
        return self.derived_from(pipe, INPAINT), {
            "image": image,
            "mask_image": mask,
            "strength": request.strength,
            "width": request.width,
            "height": request.height,
        }

    def __len__(self) -> int:
        """How many loaded pipelines have derived ones kept beside them."""
        return len(self._derived)

    def derived_from(self, pipe: Any, kind: Any) -> Any:
        """`kind` (IMAGE_TO_IMAGE or INPAINT) over `pipe`'s components, made once."""
        derived = self._derived.setdefault(pipe, {})
        if kind.__name__ not in derived:
            made = kind.from_pipe(pipe)
            made.set_progress_bar_config(disable=True)
            derived[kind.__name__] = made
        return derived[kind.__name__]
