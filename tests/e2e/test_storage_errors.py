"""A storage fault that no retry can cure (a missing bucket, a blob directory that cannot be
written) fails the job at once with `storage_error`, instead of generating its images again
for every attempt."""

from __future__ import annotations

import json

import httpx

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess, wait_for_state


def test_a_permanent_storage_fault_fails_the_job_after_one_attempt(make_server: object) -> None:
    server: ServerProcess = make_server(DREAMFORGE_MAX_ATTEMPTS="3")  # type: ignore[operator]
    server.start()
    server.break_storage()
    client = DreamForgeClient(server.url)
    try:
        job = client.create_job({"prompt": "p", "width": 64, "height": 64, "steps": 2})
        done = wait_for_state(client, str(job["id"]), {"succeeded", "failed"})
        logs = httpx.get(f"{server.url}/v1/jobs/{job['id']}/logs", timeout=30).text
    finally:
        client.close()

    assert done["state"] == "failed"
    assert done["error"]["code"] == "storage_error", done  # type: ignore[index]
    assert done["attempts"] == 1
    codes = [json.loads(line)["code"] for line in logs.splitlines()]
    assert "retry_scheduled" not in codes
    assert codes.count("item_started") == 1  # the image was generated once, not per attempt
