"""How much room the models root has: the downloader's view of the disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


class DiskSpace(Protocol):
    def filesystem(self, path: Path) -> tuple[int, int]:
        """(total, free) bytes of the filesystem that holds `path`, or would hold it once
        created; free as this process may use it."""
        ...

    def used_bytes(self, root: Path) -> int:
        """Bytes of the files under `root` (0 when it does not exist)."""
        ...

    def held(self, folder: Path, names: Sequence[str]) -> dict[str, int]:
        """Per file name, the bytes `folder` already holds of it, complete or partly
        downloaded: what a download will not fetch again."""
        ...
