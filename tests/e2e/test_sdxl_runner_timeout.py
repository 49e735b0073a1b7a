"""The real SDXL runner's step timeout, over HTTP against `dreamforge serve`: the timed-out
runner process is killed and the next job gets a fresh one.

A module of its own: the case waits out a timeout that leaves room for a fresh runner's start
on a loaded machine, and the parallel runs (one module per worker) take it beside
test_sdxl_runner.py instead of after it.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess
from tests.e2e.test_sdxl_runner import SDXL_ENV, run
from tests.support.demo import create_demo
from tests.support.processes import runner_pids

pytestmark = pytest.mark.embedded_only


def test_step_timeout_fails_the_job_kills_the_runner_and_the_next_job_succeeds(
    make_server: object,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "timeout"
    create_demo(data_dir)
    server: ServerProcess = make_server(
        "timeout",
        **SDXL_ENV,  # type: ignore[operator]
        # The timeout also bounds the first job's and the fresh runner's start (torch, the
        # model): 60 s leaves room for that on a loaded test machine (40 s ran out once, in a
        # parallel run busy with the other SDXL modules).
        DREAMFORGE_STEP_TIMEOUT_S="60",
        DREAMFORGE_MAX_ATTEMPTS="1",
    )
    server.data_dir = data_dir
    server.env["DREAMFORGE_DATA_DIR"] = str(data_dir)
    server.start()
    client = DreamForgeClient(server.url, timeout=120)
    assert run(client)[0]["state"] == "succeeded"  # warm: the runner is up and the model loaded
    assert server.proc is not None
    before = runner_pids(server.proc.pid)

    job, events = run(client, prompt="[[slow:3]] a lighthouse", steps=25)  # 75 s > 60 s
    assert job["state"] == "failed"
    assert job["error"]["code"] == "timeout"
    cleanup = [e for e in events if e["code"] == "runner_cleanup"]
    assert cleanup
    assert cleanup[0]["pid"] in before
    # The killed process's memory reaches the metrics too, not only the job log (OR-001).
    metrics = dict(
        line.rsplit(" ", 1)
        for line in httpx.get(f"{server.url}/metrics").text.splitlines()
        if line.startswith("dreamforge_runner_")
    )
    memory = 'dreamforge_runner_memory_bytes{kind="process",phase="%s"}'
    assert float(metrics[memory % "start"]) == cleanup[0]["start_bytes"] > 0
    assert float(metrics[memory % "peak"]) == cleanup[0]["peak_bytes"]
    assert float(metrics[memory % "end"]) == 0  # the process is gone
    assert float(metrics['dreamforge_runner_peak_memory_bytes_count{kind="process"}']) == 2
    deadline = time.monotonic() + 10
    while cleanup[0]["pid"] in runner_pids(server.proc.pid):
        assert time.monotonic() < deadline, "the timed-out runner process is still there"
        time.sleep(0.1)
    assert run(client)[0]["state"] == "succeeded"
    client.close()
