"""Machine and process facts for the benchmarks' reports: what the machine is, and where its
CPU went over a phase (Linux /proc)."""

from __future__ import annotations

import contextlib
import os
import platform
import time
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine_facts() -> dict[str, Any]:
    mem_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _machine_busy_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    values = [int(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _process_ticks(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _all_processes() -> dict[int, tuple[str, int]]:
    """Every process's (group name, CPU ticks); python processes are told apart by their
    command line, since others' test runs and stacks share this machine."""
    out: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
            comm = text[text.index("(") + 1 : text.rindex(")")]
            fields = text.rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])
            if comm.startswith("python") or comm == "pytest":
                cmdline = (entry / "cmdline").read_bytes()
                comm = "others' pytest" if b"pytest" in cmdline else "other python"
        except (OSError, ValueError, IndexError):
            continue
        out[int(entry.name)] = (comm, ticks)
    return out


class CpuWatch:
    """Where the machine's CPU went over one phase, by process (Linux /proc): this bench's
    processes by role, the rest by name (Postgres, Redis and the S3 server serve everyone
    using them; 'others'' processes are not this bench's)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.began = time.monotonic()
        self.machine = _machine_busy_ticks()
        self.before = _all_processes()

    def add(self, name: str, pid: int) -> None:
        """Names a process started after this watch began (its start-up counts too)."""
        self.pids[name] = pid

    def result(self) -> dict[str, Any]:
        wall = time.monotonic() - self.began
        out: dict[str, Any] = {"wall_s": round(wall, 2), "loadavg_1m": round(os.getloadavg()[0], 2)}
        now = _machine_busy_ticks()
        if self.machine and now and now[1] > self.machine[1]:
            cpus = os.cpu_count() or 1
            busy_share = (now[0] - self.machine[0]) / (now[1] - self.machine[1])
            out["machine_cpus_busy"] = round(busy_share * cpus, 2)
        roles = {pid: name for name, pid in self.pids.items()}
        groups: dict[str, float] = {}
        for pid, (name, ticks) in _all_processes().items():
            used = ticks - self.before.get(pid, (name, 0))[1]
            if used > 0 and wall > 0:
                label = roles.get(pid, name)
                groups[label] = groups.get(label, 0.0) + used / self.hz / wall
        out["cpus_by_process"] = {
            k: round(v, 2) for k, v in sorted(groups.items(), key=lambda kv: -kv[1]) if v >= 0.005
        }
        return out


def cpu_line(cpu: dict[str, Any]) -> str:
    parts = [f"{cpu['wall_s']} s"]
    if "machine_cpus_busy" in cpu:
        parts.append(f"machine {cpu['machine_cpus_busy']} of {os.cpu_count()} CPUs busy")
    named = [f"{k} {v}" for k, v in cpu.get("cpus_by_process", {}).items()]
    if named:
        parts.append("CPUs used by " + ", ".join(named[:8]))
    parts.append(f"load avg {cpu['loadavg_1m']}")
    return "  [" + "; ".join(parts) + "]"
