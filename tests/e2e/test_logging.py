"""NFR-020: process log lines are NDJSON, correlated by the client's correlation id and by
the job's id, in both deployments."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess, wait_for_state

FAILING = "a storm at sea [[fail:provider_error]]"


def json_lines(server: ServerProcess) -> list[dict[str, Any]]:
    """The server's JSON lines; anything else there (a child's stray print) is skipped."""
    text = server.log.read_text()
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def wait_for_line(
    server: ServerProcess, match: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in json_lines(server) if match(line)]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no such line in {server.log.read_text()[-3000:]}")


def test_request_lines_carry_the_sent_correlation_id_and_worker_lines_the_job_id(
    make_server: Callable[..., ServerProcess],
) -> None:
    server = make_server(
        DREAMFORGE_LOG_LEVEL="info",
        DREAMFORGE_RUNNER_TEST_HOOKS="true",
        DREAMFORGE_MAX_ATTEMPTS="1",
    )
    server.start()
    response = httpx.post(
        f"{server.url}/v1/jobs",
        json={"params": {"prompt": FAILING, "width": 64, "height": 64, "steps": 2}},
        headers={"X-Correlation-ID": "abc"},
    )
    assert response.status_code == 202
    assert response.headers["x-correlation-id"] == "abc"
    job_id = response.json()["id"]

    accepted = wait_for_line(server, lambda x: x["message"] == f"job {job_id} accepted")
    assert accepted["correlation_id"] == "abc"
    assert accepted["job_id"] == job_id
    assert accepted["level"] == "info"

    client = DreamForgeClient(server.url)
    try:
        job = wait_for_state(client, job_id, {"failed"})
    finally:
        client.close()
    dead = wait_for_line(server, lambda x: "dead-lettered" in x["message"])
    assert dead["job_id"] == job_id
    assert dead["step_id"] == job["steps"][0]["id"]  # type: ignore[index]
    assert "correlation_id" not in dead  # the worker's lines are not the request's
