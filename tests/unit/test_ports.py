"""The port a test or benchmark server is started on."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dreamforge_apps.benchmarks.ports import free_port

RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


@pytest.mark.skipif(not RANGE.exists(), reason="Linux names its ephemeral port range here")
def test_a_free_port_lies_below_the_range_that_outgoing_connections_take_theirs_from() -> None:
    first_ephemeral = int(RANGE.read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(1024 < port < first_ephemeral for port in ports), ports
    assert len(ports) > 1  # picked at random, not one port for every server


def test_a_free_port_can_be_bound() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port()))
