from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """An input made ready for a job: PNG of the job's size, and the size it was sent at."""

    png: bytes
    width: int
    height: int


class InputImageReader(Protocol):
    """Decodes a request's image within bounds and makes it the job's size."""

    def prepare(self, data: bytes, width: int, height: int, *, mask: bool) -> PreparedImage:
        """`data` already passed `check_bytes`. Raises BadInput (image_inputs) when it is
        truncated or corrupt, or holds more than MAX_INPUT_PIXELS (read from its header,
        before decoding). A mask becomes one grey channel, white = repaint."""
        ...
