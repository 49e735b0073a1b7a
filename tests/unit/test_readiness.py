"""Waiting for a started server: ready once it answers 200, and told apart when it never does."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dreamforge_apps.benchmarks.ports import free_port
from dreamforge_apps.benchmarks.readiness import NotReady, wait_until_ready


def test_a_server_answering_200_is_ready() -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/", server, timeout_s=20)
    finally:
        server.terminate()
        server.wait(10)


def test_a_process_that_exits_first_is_told_apart_from_one_that_never_answers() -> None:
    port = free_port()  # nothing listens there
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait(10)
    with pytest.raises(NotReady) as caught:
        wait_until_ready(f"http://127.0.0.1:{port}/", ended, timeout_s=5)
    assert caught.value.exited

    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(NotReady) as caught:
            wait_until_ready(f"http://127.0.0.1:{port}/", silent, timeout_s=0.3)
        assert not caught.value.exited
    finally:
        silent.kill()
        silent.wait(10)
