"""A free port for a server that is about to be started on it."""

from __future__ import annotations

import random
import socket
from pathlib import Path

# Linux hands out the local ports of outgoing connections from this range; a port that
# bind(0) picks comes from it too.
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_BELOW_EPHEMERAL = 12_000


def free_port() -> int:
    """A loopback port that no listener holds, below the ephemeral range where the kernel can
    find one. The server binds it only once it has started: a port from bind(0) could be taken
    in between by any connection this machine opens (to Postgres, Redis, S3), and the server
    would fail with "address already in use"."""
    try:
        first_ephemeral = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 0
    for _ in range(100):
        if first_ephemeral > 1024 + _BELOW_EPHEMERAL:
            port = random.randrange(first_ephemeral - _BELOW_EPHEMERAL, first_ephemeral)
        else:
            port = 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free loopback port below the ephemeral range")
