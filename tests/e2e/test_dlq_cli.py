"""`dreamforge dlq list|requeue` against the real stack: a job that fails for good is
dead-lettered, listed, and runs again once requeued."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from dreamforge_adapters.dramatiq_queue import (
    IO_QUEUE,
    DramatiqJobQueue,
    close_broker,
    make_broker,
)
from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import TEARDOWN_GRACE_S, wait_for_state
from tests.e2e.stack import StackProcesses
from tests.support.launcher import run_command
from tests.support.seaweed import SeaweedS3

SMALL = {"width": 64, "height": 64, "steps": 2}


@pytest.fixture
def stack(tmp_path: Path, postgres_dsn: str, seaweed_s3: SeaweedS3) -> Iterator[StackProcesses]:
    processes = StackProcesses(
        tmp_path / "stack",
        postgres_dsn,
        seaweed_s3,
        DREAMFORGE_RUNNER_TEST_HOOKS="true",
        DREAMFORGE_MAX_ATTEMPTS="2",
    )
    processes.start()
    yield processes
    processes.stop(TEARDOWN_GRACE_S)


def _dlq(stack: StackProcesses, *args: str) -> subprocess.CompletedProcess[str]:
    return run_command(["dlq", *args], stack.env, timeout=60)


def _listed(stack: StackProcesses) -> list[list[str]]:
    result = _dlq(stack, "list")
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.splitlines() if "\t" in line]


def _wait_parked(stack: StackProcesses, job_id: str, after: datetime | None = None) -> datetime:
    """Waits until the GPU queue holds `job_id` as a dead letter (parked after `after`),
    reading Redis from here: each `dreamforge dlq` command is a process start, so the CLI is
    asked once the answer is known."""
    env = stack.env
    broker = make_broker(env["DREAMFORGE_REDIS_URL"], namespace=env["DREAMFORGE_REDIS_NAMESPACE"])
    try:
        queue, deadline = DramatiqJobQueue(broker), time.monotonic() + 30
        while time.monotonic() < deadline:
            for letter in queue.dead_letters():
                if letter.job_id == job_id and (after is None or letter.at > after):
                    return letter.at
            time.sleep(0.1)
    finally:
        close_broker(broker)
    raise AssertionError(f"job {job_id} was never dead-lettered")


def _wait_listed(
    stack: StackProcesses, job_id: str, after: datetime | None = None
) -> tuple[list[str], datetime]:
    """The job's line in `dreamforge dlq list` once it is parked, and when it was parked."""
    at = _wait_parked(stack, job_id, after)
    rows = [row for row in _listed(stack) if row[0] == job_id]
    assert rows, f"job {job_id} is parked but `dreamforge dlq list` does not show it"
    return rows[0], at


def test_a_dead_lettered_job_is_listed_and_runs_again_when_requeued(
    stack: StackProcesses,
) -> None:
    client = DreamForgeClient(stack.url)
    job = client.create_job({"prompt": "a fox [[fail:provider_error]]", **SMALL})
    failed = wait_for_state(client, job["id"], {"failed"})
    assert failed["attempts"] == 2

    (job_id, queue, at, reason), parked_at = _wait_listed(stack, job["id"])
    assert queue == "gpu"
    assert at.startswith("20")
    assert reason.startswith("provider_error: ")

    result = _dlq(stack, "requeue", job_id)
    assert result.returncode == 0, result.stderr
    assert f"{job_id}\tgpu\tqueued again" in result.stdout

    # It ran again: one more start, which fails the same way and parks the job again.
    deadline = time.monotonic() + 30
    while client.job(job_id)["attempts"] < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    again = wait_for_state(client, job_id, {"failed"})
    assert again["attempts"] == 3
    logs = httpx.get(f"{stack.url}/v1/jobs/{job_id}/logs").text.splitlines()
    codes = [json.loads(line)["code"] for line in logs]
    reopened = codes.index("job_reopened")
    assert codes[reopened + 1 :].count("job_started") == 1
    assert codes[-2:] == ["job_failed", "end"]
    parked_again, _ = _wait_listed(stack, job_id, after=parked_at)
    assert parked_again[1] == "gpu"
    assert parked_again[2] > at  # a new entry: the run after the requeue failed


def test_list_covers_the_io_queue_and_requeue_all_empties_both(stack: StackProcesses) -> None:
    env = stack.env
    broker = make_broker(env["DREAMFORGE_REDIS_URL"], namespace=env["DREAMFORGE_REDIS_NAMESPACE"])
    try:
        DramatiqJobQueue(broker, queue_name=IO_QUEUE).dead_letter("no-such-job", "timeout: x")
    finally:
        close_broker(broker)

    assert [(row[0], row[1]) for row in _listed(stack)] == [("no-such-job", "io")]
    result = _dlq(stack, "requeue", "--all")
    assert result.returncode == 0, result.stderr
    assert "no-such-job\tio\tnot failed" in result.stdout
    assert _listed(stack) == []


def test_requeue_needs_ids_or_all_and_reports_unknown_ids(stack: StackProcesses) -> None:
    assert _dlq(stack, "requeue").returncode == 2
    unknown = _dlq(stack, "requeue", "nope")
    assert unknown.returncode == 1
    assert "nope\tnot in a dead-letter queue" in unknown.stderr


def test_the_commands_need_the_stack_settings(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMFORGE_")}
    result = subprocess.run(
        [sys.executable, "-m", "dreamforge_apps.cli", "dlq", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "DREAMFORGE_REDIS_URL" in result.stderr


def test_a_requeued_job_that_succeeds_leaves_the_listing(stack: StackProcesses) -> None:
    client = DreamForgeClient(stack.url)
    job = client.create_job({"prompt": "a fox [[fail:provider_error]]", **SMALL})
    wait_for_state(client, job["id"], {"failed"})
    _wait_listed(stack, job["id"])

    # The operator fixes the cause: the worker comes back without the failure hook.
    stack.stop_workers()
    stack.env["DREAMFORGE_RUNNER_TEST_HOOKS"] = "false"
    stack.start_worker()

    result = _dlq(stack, "requeue", job["id"])
    assert result.returncode == 0, result.stderr
    done = wait_for_state(client, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded"
    assert [row for row in _listed(stack) if row[0] == job["id"]] == []
    assert _dlq(stack, "list").stdout.strip() == "no dead-lettered jobs"
    metrics = httpx.get(f"{stack.url}/metrics").text
    assert 'dreamforge_queue_depth{queue="gpu",state="dead_letter"} 0.0' in metrics
