"""A worker stopped with SIGTERM hands its job back: the stop costs no attempt and no item
runs twice, however often the worker is stopped during one batch."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from dreamforge_adapters.sqlite import SqliteDatabase, SqliteJobRepo
from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess, StackServer, wait_for_state
from tests.support.demo import create_demo

STOPS = 3
SDXL_ENV = {
    "DREAMFORGE_RUNNER": "sdxl",
    "DREAMFORGE_RUNNER_TEST_HOOKS": "true",
    "DREAMFORGE_RUNNER_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
}


def _stop_worker(server: ServerProcess | StackServer) -> int:
    """Sends SIGTERM to the process running jobs; returns its exit status."""
    proc: subprocess.Popen[bytes] | None
    if isinstance(server, StackServer):
        proc, _ = server.stack.workers.pop(0)
    else:
        proc = server.proc
    assert proc is not None
    proc.send_signal(signal.SIGTERM)
    return proc.wait(60)


def _start_worker(server: ServerProcess | StackServer) -> None:
    if isinstance(server, StackServer):
        server.stack.start_worker()
    else:
        server.start()


def _wait_for_artifacts(client: DreamForgeClient, job_id: str, more_than: int) -> int:
    deadline = time.monotonic() + 60
    while (stored := len(client.artifacts(job_id))) <= more_than:
        assert time.monotonic() < deadline, f"no new image after {more_than}"
        time.sleep(0.02)
    return stored


def test_sigterm_three_times_in_one_batch_hands_the_job_back_each_time(
    make_server: object,
) -> None:
    # about 0.3 s per image: each stop lands in the middle of one
    server = make_server(DREAMFORGE_FAKE_STEP_DELAY_S="0.03")  # type: ignore[operator]
    server.start()
    client = DreamForgeClient(server.url)
    # enough images that three stops, each with a restart, land before the batch is done
    # even on a loaded machine
    count = 24
    job = client.create_job({"prompt": "p", "count": count, "width": 64, "height": 64, "steps": 10})
    stored = 0
    for _ in range(STOPS):
        stored = _wait_for_artifacts(client, job["id"], stored)
        assert _stop_worker(server) == 0
        if isinstance(server, ServerProcess):  # the API stopped with it
            client.close()
            _start_worker(server)
            client = DreamForgeClient(server.url)
            # handed back (0), perhaps already running again (1); not resumed as a crash (2)
            assert client.job(job["id"])["attempts"] <= 1
        else:
            stopped = client.job(job["id"])
            # the stop did not wait for the whole batch: the job went back to its queue, and
            # the attempt it was on does not count
            assert stopped["state"] == "queued", stopped
            assert stopped["attempts"] == 0, stopped
            _start_worker(server)
        stored = len(client.artifacts(job["id"]))
        assert stored < count

    final = wait_for_state(client, job["id"], {"succeeded", "failed"})
    assert final["state"] == "succeeded", final
    assert final["attempts"] == 1, final
    artifacts = client.artifacts(job["id"])
    assert sorted(a["item_index"] for a in artifacts) == list(range(count))
    events = [e.data for e in client.stream(job["id"])]
    started = Counter(e["item_index"] for e in events if e["code"] == "item_started")
    assert started == dict.fromkeys(range(count), 1), started  # no image was generated twice
    codes = [e["code"] for e in events]
    assert codes.count("job_handed_back") == STOPS
    assert "job_requeued" not in codes
    assert len(server.stored_keys(job["id"])) == count
    client.close()


@pytest.mark.embedded_only
def test_a_runner_process_silent_past_the_drain_is_killed_and_the_job_handed_back(
    tmp_path: Path,
) -> None:
    """The SDXL runner's process reports no step for a long while (as in a model load): the
    stop kills it shortly after the drain window instead of waiting for SIGKILL."""
    data_dir = tmp_path / "data"
    create_demo(data_dir)
    server = ServerProcess(data_dir, {**SDXL_ENV, "DREAMFORGE_DRAIN_TIMEOUT_S": "1"})
    server.start()
    try:
        client = DreamForgeClient(server.url, timeout=120)
        job = client.create_job(
            {"prompt": "a lighthouse [[slow:600]]", "width": 64, "height": 64, "steps": 6}
        )
        for event in client.stream(job["id"]):  # the runner's process is in its first step
            if event.data["code"] == "item_progress" and event.data.get("step"):
                break
        client.close()
        assert _stop_worker(server) == 0
    finally:
        server.stop()

    with SqliteDatabase(data_dir / "dreamforge.sqlite3") as database:
        repo = SqliteJobRepo(database)
        stopped = repo.get(job["id"])
        codes = [e.code for e in repo.events(job["id"])]
    assert stopped is not None
    assert stopped.state.value == "queued"
    assert stopped.attempts == 0
    assert codes[-1] == "job_handed_back", codes
    assert "runner_cleanup" in codes  # the killed process, recorded on the job
