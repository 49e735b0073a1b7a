"""Priority over real HTTP on both deployments: with the one worker busy, 30 queued jobs of
mixed priority start in priority order, first in first out within one, and each job's
`queue_position` says how many start before it."""

from __future__ import annotations

import pytest

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess, wait_for_state

PATTERN = ["normal", "low", "high", "normal", "high", "low"] * 5  # 30 jobs
RANK = {"high": 0, "normal": 1, "low": 2}
QUICK = {"prompt": "p", "count": 1, "width": 64, "height": 64, "steps": 1}


@pytest.fixture
def slow_server(make_server: object) -> ServerProcess:
    server = make_server(DREAMFORGE_FAKE_STEP_DELAY_S="0.05")  # type: ignore[operator]
    server.start()
    return server  # type: ignore[no-any-return]


def test_queued_jobs_start_in_priority_order_and_know_their_place(
    slow_server: ServerProcess,
) -> None:
    client = DreamForgeClient(slow_server.url)
    busy = client.create_job({**QUICK, "count": 2, "steps": 100})  # 10 s on the one worker
    wait_for_state(client, busy["id"], {"running"})
    ids = []
    for priority in PATTERN:
        response = client.http.post("/v1/jobs", json={"priority": priority, "params": QUICK})
        assert response.status_code == 202, response.text
        assert response.json()["priority"] == priority
        ids.append(response.json()["id"])
    expected = [
        i
        for _, _, i in sorted(
            (RANK[p], n, i) for n, (i, p) in enumerate(zip(ids, PATTERN, strict=True))
        )
    ]

    positions = {i: client.job(i)["queue_position"] for i in ids}
    assert client.job(busy["id"])["state"] == "running"  # the queue did not move meanwhile
    assert sorted(ids, key=positions.__getitem__) == expected
    assert sorted(positions.values()) == list(range(len(ids)))
    assert client.job(busy["id"])["queue_position"] is None  # only queued jobs have one

    client.cancel(busy["id"])
    finished = [wait_for_state(client, i, {"succeeded"}) for i in ids]
    started = [job["id"] for job in sorted(finished, key=lambda job: job["started_at"])]
    assert started == expected
    client.close()
