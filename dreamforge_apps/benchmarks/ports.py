"""A free port for a server that is about to be started on it."""

from __future__ import annotations

import fcntl
import random
import socket
import tempfile
from pathlib import Path

# Linux hands out the local ports of outgoing connections from this range; a port that
# bind(0) picks comes from it too.
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_BELOW_EPHEMERAL = 12_000
# The next port to hand out, shared by every process of this machine's user.
_NEXT_PORT = Path(tempfile.gettempdir()) / "dreamforge-next-free-port"


def free_port() -> int:
    """A loopback port that no listener holds, below the ephemeral range where the kernel can
    find one. The server binds it only once it has started: a port from bind(0) could be taken
    in between by any connection this machine opens (to Postgres, Redis, S3), and the server
    would fail with "address already in use".

    Ports are handed out in turn through a file that every process locks while it takes one,
    so two processes never get the same port while their servers start (seconds, for one with
    the SDXL runner): with a random pick, one would answer the other's clients."""
    low, high = _port_range()
    if high <= low:  # no range to keep below: the kernel's choice
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    try:
        with _NEXT_PORT.open("a+") as shared:
            fcntl.flock(shared, fcntl.LOCK_EX)  # released when the file is closed
            shared.seek(0)
            recorded = shared.read().strip()
            start = int(recorded) if recorded.isdigit() else random.randrange(low, high)
            port = _firstport_is_free(start, low, high)
            shared.seek(0)
            shared.truncate()
            shared.write(str(port + 1))
            return port
    except OSError:  # no shared file here: a random pick, as good as it gets alone
        return _firstport_is_free(random.randrange(low, high), low, high)


def _port_range() -> tuple[int, int]:
    try:
        first_ephemeral = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0, 0
    if first_ephemeral <= 1024 + _BELOW_EPHEMERAL:
        return 0, 0
    return first_ephemeral - _BELOW_EPHEMERAL, first_ephemeral


def _firstport_is_free(start: int, low: int, high: int) -> int:
    for offset in range(high - low):
        port = low + (start - low + offset) % (high - low)
        if port_is_free(port):
            return port
    raise OSError("no free loopback port below the ephemeral range")


def port_is_free(port: int) -> bool:
    """Whether no listener holds the port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
