"""A server's processes as /proc shows them: its runner processes in particular."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def runner_pids(server_pid: int) -> list[int]:
    """The server's runner processes: the children of its fork server, which the server
    starts before its first runner process."""
    return [pid for server in _fork_servers(server_pid) for pid in children(server)]


def _fork_servers(server_pid: int) -> list[int]:
    found = []
    for pid in children(server_pid):
        try:
            if b"multiprocessing.forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found
