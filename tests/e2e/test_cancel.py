"""Cancel over real HTTP on both deployments: a running job stops at its next step and keeps
its finished images, a queued job never runs, the worker goes on to the next job, and the
command line cancels a job by id or when its `generate` is interrupted."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from dreamforge_apps.client import ApiError, DreamForgeClient
from tests.e2e.conftest import ServerProcess, wait_for_artifacts, wait_for_state

# 0.05 s per step, 10 steps: half a second per image, a job of 6 images runs for about 3 s.
SLOW = {"DREAMFORGE_FAKE_STEP_DELAY_S": "0.05"}
LONG_JOB = {"prompt": "a slow lighthouse", "count": 6, "width": 64, "height": 64, "steps": 10}
SHORT_JOB = {"prompt": "a quick one", "count": 1, "width": 64, "height": 64, "steps": 2}


@pytest.fixture
def slow_server(make_server: object) -> ServerProcess:
    server = make_server(**SLOW)  # type: ignore[operator]
    server.start()
    return server  # type: ignore[no-any-return]


def _events(server: ServerProcess, job_id: str) -> list[str]:
    logs = httpx.get(f"{server.url}/v1/jobs/{job_id}/logs").text
    return re.findall(r'"code":\s*"(\w+)"', logs)


def test_a_running_job_stops_at_its_next_step_and_the_worker_moves_on(
    slow_server: ServerProcess,
) -> None:
    client = DreamForgeClient(slow_server.url)
    job = client.create_job(LONG_JOB)
    wait_for_artifacts(client, job["id"], 1)

    began = time.monotonic()
    answer = client.cancel(job["id"])
    assert answer["state"] == "canceled"
    assert answer["error"] is None
    # The stream replays the job and ends: the last state event says canceled.
    events = list(client.stream(job["id"]))
    assert events[-1].event == "end"
    assert [e.data for e in events if e.event == "state"][-1]["state"] == "canceled"

    # The next job starts at once: the worker is not stuck on the canceled one.
    after = client.create_job(SHORT_JOB)
    assert wait_for_state(client, after["id"], {"succeeded"}, timeout=30)["state"] == "succeeded"
    assert time.monotonic() - began < 10

    final = client.job(job["id"])
    assert final["state"] == "canceled"
    kept = client.artifacts(job["id"])
    assert 1 <= len(kept) < LONG_JOB["count"]
    for artifact in kept:
        assert httpx.get(artifact["url"]).status_code == 200
    assert sorted(slow_server.stored_keys(job["id"])) == sorted(a["key"] for a in kept)
    assert "job_canceled" in _events(slow_server, job["id"])

    again = client.cancel(job["id"])  # idempotent
    assert again["state"] == "canceled"
    with pytest.raises(ApiError) as refused:
        client.cancel(after["id"])
    assert refused.value.status == 409
    assert refused.value.body["error"]["code"] == "invalid_state"
    with pytest.raises(ApiError) as unknown:
        client.cancel("no-such-job")
    assert unknown.value.status == 404

    metrics = httpx.get(f"{slow_server.url}/metrics").text
    assert re.search(r'^dreamforge_jobs\{state="canceled"\} 1(\.0)?$', metrics, re.M), metrics
    client.close()


def _dreamforge(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dreamforge_apps.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as at a terminal: a suite started in the background inherits SIGINT ignored,
        # and Python then never raises KeyboardInterrupt
        preexec_fn=_interruptible,
    )


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_the_command_line_cancels_a_queued_job_and_an_interrupted_generate(
    slow_server: ServerProcess,
) -> None:
    client = DreamForgeClient(slow_server.url)
    busy = client.create_job({**LONG_JOB, "count": 40})  # holds the one worker for 20 s
    queued = client.create_job(SHORT_JOB)

    done = _dreamforge("cancel", queued["id"], "--server", slow_server.url)
    out, err = done.communicate(timeout=60)
    assert done.returncode == 0, err
    assert out.strip() == f"job {queued['id']} canceled"

    generate = _dreamforge(
        "generate", "p", "--count", "3", "--width", "64", "--height", "64", "--steps", "10",
        "--server", slow_server.url,
    )  # fmt: skip
    assert generate.stderr is not None
    line = generate.stderr.readline()  # "job <id> queued (3 image(s))"
    interrupted = line.split()[1]
    generate.send_signal(signal.SIGINT)
    _, err = generate.communicate(timeout=60)
    assert generate.returncode == 130, err
    assert f"job {interrupted} canceled" in err

    # The worker frees up and passes over both: a later job runs, they never do.
    client.cancel(busy["id"])
    later = client.create_job(SHORT_JOB)
    wait_for_state(client, later["id"], {"succeeded"})
    assert client.job(interrupted)["state"] == "canceled"
    assert client.job(queued["id"])["state"] == "canceled"
    assert client.artifacts(queued["id"]) == []
    assert "job_started" not in _events(slow_server, queued["id"])  # it never ran

    finished = _dreamforge("cancel", later["id"], "--server", slow_server.url)
    _, err = finished.communicate(timeout=60)
    assert finished.returncode == 2
    assert "409 invalid_state" in err
    client.close()
