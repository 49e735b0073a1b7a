"""The models root's disk as the install's budget check sees it (`DiskSpace`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from dreamforge_adapters.model_sources.part_file import PART_SUFFIX
from dreamforge_adapters.model_sources.remote_files import UnsafePath, safe_target
from dreamforge_core.ports.disk_space import DiskSpace


class LocalDiskSpace(DiskSpace):
    def filesystem(self, path: Path) -> tuple[int, int]:
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent  # the folder may not exist yet: its filesystem counts
        usage = shutil.disk_usage(existing)
        return usage.total, usage.free

    def used_bytes(self, root: Path) -> int:
        total = 0
        for folder, _, names in os.walk(root):
            for name in names:
                try:
                    total += os.lstat(os.path.join(folder, name)).st_size
                except OSError:  # removed while walking
                    continue
        return total

    def held(self, folder: Path, names: Sequence[str]) -> dict[str, int]:
        return {name: _held(folder, name) for name in names}


def _held(folder: Path, name: str) -> int:
    """The partial file's bytes when there is one (a download resumes it), else the file's."""
    try:
        target = safe_target(folder, name)
    except UnsafePath:
        return 0
    for path in (target.with_name(target.name + PART_SUFFIX), target):
        try:
            return path.stat().st_size
        except OSError:
            continue
    return 0
