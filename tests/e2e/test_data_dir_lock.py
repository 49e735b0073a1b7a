"""One `dreamforge serve` per data directory: a second one refuses to start, and leaves the
first one's jobs alone."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dreamforge_apps.benchmarks.ports import free_port
from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess, wait_for_state


@pytest.mark.embedded_only
def test_a_second_serve_on_the_same_data_dir_refuses_to_start(make_server: object) -> None:
    server: ServerProcess = make_server(DREAMFORGE_FAKE_STEP_DELAY_S="0.02")  # type: ignore[operator]
    server.start()
    client = DreamForgeClient(server.url)
    job = client.create_job({"prompt": "p", "count": 4, "width": 64, "height": 64, "steps": 10})
    wait_for_state(client, job["id"], {"running"})

    second = subprocess.run(
        [sys.executable, "-m", "dreamforge_apps.cli", "serve", "--port", str(free_port())],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert second.returncode != 0
    message = second.stderr.strip().splitlines()[-1]
    assert "already" in message, second.stderr
    assert str(server.data_dir.resolve()) in message, second.stderr
    final = wait_for_state(client, job["id"], {"succeeded", "failed"})
    assert final["state"] == "succeeded", final
    assert final["attempts"] == 1, final
    codes = [e.data["code"] for e in client.stream(job["id"])]
    assert "job_requeued" not in codes  # the first server kept its running job
    client.close()


@pytest.mark.embedded_only
def test_the_data_dir_is_free_again_once_its_server_is_killed(make_server: object) -> None:
    server: ServerProcess = make_server()  # type: ignore[operator]
    server.start()
    server.kill9()
    server.start()  # no stale lock: the OS released it with the process
    assert server.proc is not None
    assert server.proc.poll() is None
