from __future__ import annotations

from typing import Protocol

from dreamforge_core.domain.metadata import ImageMetadata
from dreamforge_core.ports.runner import GeneratedImage


class ImageEncoder(Protocol):
    """Encodes pixels as PNG or JPEG, embedding metadata unless it is None."""

    def encode(self, image: GeneratedImage, fmt: str, metadata: ImageMetadata | None) -> bytes: ...
