"""Pillow image encoding with the generation metadata AUTOMATIC1111, CivitAI and ComfyUI read."""

from dreamforge_adapters.imaging.encoder import PillowImageEncoder
from dreamforge_adapters.imaging.inputs import PillowInputReader
from dreamforge_adapters.imaging.reader import (
    decode_user_comment,
    parse_a1111_parameters,
    read_embedded_metadata,
)

__all__ = [
    "PillowImageEncoder",
    "PillowInputReader",
    "decode_user_comment",
    "parse_a1111_parameters",
    "read_embedded_metadata",
]
