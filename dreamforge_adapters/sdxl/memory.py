"""Memory figures: a process's from /proc (the parent uses it, without torch), and the child's
per-item probe (torch's allocator on CUDA, the resident set otherwise)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from dreamforge_adapters.sdxl.protocol import Memory


def process_memory(pid: int | str = "self") -> tuple[int, int] | None:
    """(resident bytes, peak resident bytes) of a process, or None where /proc has no answer."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    if "VmRSS" not in values:
        return None
    return values["VmRSS"], values.get("VmHWM", values["VmRSS"])


class MemoryProbe:
    """Start, peak and end memory of one item: torch's allocator on CUDA, RSS otherwise."""

    def __init__(self, torch: Any, device: str) -> None:
        self.torch = torch
        self.cuda = device == "cuda"
        self.start_bytes = 0

    def start(self) -> None:
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()
            self.start_bytes = int(self.torch.cuda.memory_allocated())
            return
        try:  # "5" resets VmHWM to the current RSS, so the peak is this item's (Linux >= 4.0)
            with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
                refs.write("5")
        except OSError:
            pass
        self.start_bytes = (process_memory() or (0, 0))[0]

    def now(self) -> int:
        """What is held at this moment (allocated on CUDA, resident otherwise)."""
        if self.cuda:
            self.torch.cuda.synchronize()
            return int(self.torch.cuda.memory_allocated())
        return (process_memory() or (0, 0))[0]

    def finish(self) -> Memory:
        """Frees what can be freed, then measures; call it on failure too."""
        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()
            peak = int(self.torch.cuda.max_memory_allocated())
            end = int(self.torch.cuda.memory_allocated())
            return Memory(kind="cuda", start_bytes=self.start_bytes, peak_bytes=peak, end_bytes=end)
        end, peak = process_memory() or (0, 0)
        return Memory(
            kind="process",
            start_bytes=self.start_bytes,
            peak_bytes=max(peak, end, self.start_bytes),
            end_bytes=end,
        )
