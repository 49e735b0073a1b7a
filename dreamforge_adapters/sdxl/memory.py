"""Reading a process's memory from /proc, without importing torch (the parent uses it)."""

from __future__ import annotations

from pathlib import Path


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
