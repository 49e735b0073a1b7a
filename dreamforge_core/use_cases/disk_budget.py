"""Whether a download fits on disk, checked before its first byte is fetched.

Two limits, both in bytes still to be written: the filesystem's free space less a margin of
max(1 GiB, 5 % of its size), kept free for the database, logs and images; and, where set, a
budget for everything under the models root (what is there already counts against it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dreamforge_core.errors import InsufficientStorage
from dreamforge_core.ports.disk_space import DiskSpace

MIN_MARGIN_BYTES = 1 << 30
MARGIN_SHARE = 0.05


def free_space_margin(total: int) -> int:
    return max(MIN_MARGIN_BYTES, int(total * MARGIN_SHARE))


@dataclass(frozen=True, slots=True)
class DiskBudget:
    """`max_bytes` 0: no budget, free space (less the margin) only; `setting` names the
    budget in messages (the operator's knob)."""

    space: DiskSpace
    max_bytes: int = 0
    setting: str = "the models budget"

    def require(self, root: Path, needed: int, what: str) -> None:
        """Raises InsufficientStorage, naming both figures, unless `needed` more bytes fit."""
        if needed <= 0:
            return
        details: dict[str, int | str] = {"needed_bytes": needed}
        total, free = self.space.filesystem(root)
        margin = free_space_margin(total)
        if needed > free - margin:
            details |= {"free_bytes": free, "margin_bytes": margin}
            raise InsufficientStorage(
                f"{what} needs {needed} bytes; the disk of {root} has {free} bytes free and "
                f"keeps {margin} of them free (max(1 GiB, 5% of {total})), so "
                f"{max(0, free - margin)} can be used",
                details=details,
            )
        if self.max_bytes:
            used = self.space.used_bytes(root)
            if needed > self.max_bytes - used:
                details |= {"budget_bytes": self.max_bytes, "used_bytes": used}
                raise InsufficientStorage(
                    f"{what} needs {needed} bytes; {self.setting} is {self.max_bytes} bytes "
                    f"and {used} are in use under {root}, so {max(0, self.max_bytes - used)} "
                    "are left",
                    details=details,
                )
