from __future__ import annotations

from typing import Protocol


class SeedSource(Protocol):
    def draw(self) -> int:
        """A fresh random seed in 0..2**32-1, drawn when an item starts."""
        ...
