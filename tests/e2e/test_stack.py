"""The production stack end to end: api + worker processes on Postgres, Redis and S3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from dreamforge_adapters.imaging.reader import read_embedded_metadata
from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import TEARDOWN_GRACE_S, wait_for_artifacts, wait_for_state
from tests.e2e.stack import StackProcesses
from tests.support.seaweed import SeaweedS3

SMALL = {"width": 64, "height": 64, "steps": 4}


@pytest.fixture
def stack(tmp_path: Path, postgres_dsn: str, seaweed_s3: SeaweedS3) -> Iterator[StackProcesses]:
    processes = StackProcesses(
        tmp_path / "stack", postgres_dsn, seaweed_s3, DREAMFORGE_FAKE_STEP_DELAY_S="0.02"
    )
    processes.start()
    yield processes
    processes.stop(TEARDOWN_GRACE_S)


def test_a_batch_runs_through_the_stack_with_s3_urls(stack: StackProcesses) -> None:
    client = DreamForgeClient(stack.url)
    job = client.create_job({"prompt": "a lighthouse", "count": 3, **SMALL})
    events = list(client.stream(job["id"]))
    assert events[-1].event == "end"
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    final = client.job(job["id"])
    assert final["state"] == "succeeded", final
    artifacts = client.artifacts(job["id"], ttl=60)
    assert sorted(a["item_index"] for a in artifacts) == [0, 1, 2]
    for artifact in artifacts:
        assert artifact["url"].startswith(stack.env["DREAMFORGE_S3_ENDPOINT"])
        response = httpx.get(artifact["url"])
        assert response.status_code == 200
        assert read_embedded_metadata(response.content)["seed"] == str(artifact["seed"])
        assert httpx.get(artifact["url"].split("?")[0]).status_code == 403  # private bucket
    logs = [
        json.loads(line)
        for line in httpx.get(f"{stack.url}/v1/jobs/{job['id']}/logs").text.splitlines()
    ]
    assert [e["seq"] for e in logs] == [e.id for e in events]
    ready = httpx.get(f"{stack.url}/ready").json()
    assert ready["checks"] == {"database": "ok", "redis": "ok", "storage": "ok"}
    worker_ready = httpx.get(f"{stack.workers[0][1]}/ready")
    assert worker_ready.status_code == 200
    assert "dreamforge_queue_depth" in httpx.get(f"{stack.url}/metrics").text
    worker_metrics = httpx.get(f"{stack.workers[0][1]}/metrics")
    assert worker_metrics.status_code == 200
    assert "dreamforge_item_duration_seconds_count 3.0" in worker_metrics.text
    assert 'dreamforge_jobs{state="succeeded"} 1.0' in worker_metrics.text
    client.close()


def test_kill_nine_of_the_worker_mid_batch_a_new_worker_finishes(stack: StackProcesses) -> None:
    client = DreamForgeClient(stack.url)
    job = client.create_job({"prompt": "p", "count": 5, **SMALL, "steps": 10})
    before = wait_for_artifacts(client, job["id"], 2)
    stack.kill9_worker()
    stack.start_worker()
    final = wait_for_state(client, job["id"], {"succeeded", "failed"}, timeout=90)
    assert final["state"] == "succeeded", final
    artifacts = client.artifacts(job["id"])
    assert sorted(a["item_index"] for a in artifacts) == [0, 1, 2, 3, 4]
    after = {a["item_index"]: a for a in artifacts}
    for index, artifact in before.items():  # finished items were not generated again
        assert after[index]["id"] == artifact["id"]
    codes = [e.data["code"] for e in client.stream(job["id"])]
    assert "job_requeued" in codes
    client.close()


def test_two_api_processes_with_one_idempotency_key_create_one_job(
    stack: StackProcesses,
) -> None:
    second = stack.start_api()
    body = {"params": {"prompt": "same", **SMALL}}

    def post(n: int) -> httpx.Response:
        url = stack.url if n % 2 else second
        return httpx.post(
            f"{url}/v1/jobs", json=body, headers={"Idempotency-Key": "k-1"}, timeout=30
        )

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1


def test_with_two_workers_per_process_metrics_add_up_and_shared_gauges_agree(
    stack: StackProcesses,
) -> None:
    stack.start_worker()
    client = DreamForgeClient(stack.url)
    jobs = [client.create_job({"prompt": f"p{n}", "count": 2, **SMALL}) for n in range(6)]
    for job in jobs:
        assert wait_for_state(client, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
    client.close()
    scraped = [httpx.get(f"{url}/metrics").text for _, url in stack.workers]

    def value(text: str, series: str) -> float:
        line = next((ln for ln in text.splitlines() if ln.startswith(series + " ")), None)
        return float(line.split()[-1]) if line else 0.0

    items = [value(text, 'dreamforge_items_total{state="succeeded"}') for text in scraped]
    assert sum(items) == 12  # each image counted once, by the worker that made it
    succeeded = {value(text, 'dreamforge_jobs{state="succeeded"}') for text in scraped}
    assert succeeded == {6.0}  # read from Postgres: every process reports the same
