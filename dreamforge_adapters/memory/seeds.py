from __future__ import annotations

from collections.abc import Callable, Iterable

from dreamforge_core.ports.seed_source import SeedSource


class ScriptedSeeds(SeedSource):
    """Hands out given seeds in order and tells an observer each time one is drawn."""

    def __init__(self, seeds: Iterable[int], on_draw: Callable[[int], None] | None = None) -> None:
        self._seeds = iter(seeds)
        self._on_draw = on_draw
        self.drawn: list[int] = []

    def draw(self) -> int:
        seed = next(self._seeds)
        self.drawn.append(seed)
        if self._on_draw:
            self._on_draw(seed)
        return seed
