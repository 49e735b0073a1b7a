"""Black-box fixtures: a real `dreamforge serve` process on a free port, spoken to over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dreamforge_apps.client import DreamForgeClient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One embedded server; can be killed and started again on the same data directory."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DREAMFORGE_DATA_DIR": str(data_dir),
            "DREAMFORGE_RUNNER": "fake",
            "DREAMFORGE_FAKE_STEP_DELAY_S": "0.005",
            "DREAMFORGE_PROGRESS_INTERVAL_S": "0",
            "DREAMFORGE_RETRY_BASE_DELAY_S": "0.05",
            "DREAMFORGE_SSE_KEEPALIVE_S": "1",
            "DREAMFORGE_LOG_LEVEL": "warning",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def start(self, *args: str) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dreamforge_apps.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    *args,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("server did not become healthy")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[object]:
    servers: list[ServerProcess] = []

    def make(name: str = "server", **env: str) -> ServerProcess:
        server = ServerProcess(tmp_path / name, env)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: object) -> ServerProcess:
    srv = make_server()  # type: ignore[operator]
    srv.start()
    return srv  # type: ignore[no-any-return]


@pytest.fixture
def client(server: ServerProcess) -> Iterator[DreamForgeClient]:
    c = DreamForgeClient(server.url)
    yield c
    c.close()


def wait_for_state(
    client: DreamForgeClient, job_id: str, states: set[str], timeout: float = 60
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {states}: {client.job(job_id)}")
