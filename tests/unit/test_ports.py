"""The port a test or benchmark server is started on."""

from __future__ import annotations

import socket
import subprocess
import sys
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


def test_processes_asking_at_once_never_get_the_same_port() -> None:
    # A server binds its port only once it has started, seconds later for one with the SDXL
    # runner: another test process must not be handed that port in between.
    code = "from dreamforge_apps.benchmarks.ports import free_port\n"
    code += "print(*(free_port() for _ in range(200)))"
    askers = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    ports = [int(p) for asker in askers for p in asker.communicate(timeout=60)[0].split()]
    assert len(ports) == 400
    assert len(set(ports)) == len(ports)
