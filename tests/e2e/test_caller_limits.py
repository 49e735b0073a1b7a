"""Limits per API key over real HTTP on both deployments: jobs queued or running at once, and
creations per minute; over either, `429 rate_limited` with `Retry-After` and the limit named,
and nothing stored."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.conftest import ServerProcess

KEYS = {"alice": "alice-key-0123456789", "bob": "bob-key-0123456789"}
JOB = {"params": {"prompt": "p", "count": 2, "width": 64, "height": 64, "steps": 40}}


@pytest.fixture
def limited(make_server: object) -> ServerProcess:
    server = make_server(  # type: ignore[operator]
        DREAMFORGE_API_KEYS=",".join(KEYS.values()),
        DREAMFORGE_RATE_LIMIT_PER_MIN="3",
        DREAMFORGE_MAX_ACTIVE_JOBS_PER_KEY="2",
        DREAMFORGE_FAKE_STEP_DELAY_S="0.05",  # a job holds the worker for 4 s
    )
    server.start()
    return server  # type: ignore[no-any-return]


def _post(server: ServerProcess, who: str, path: str = "/v1/jobs") -> httpx.Response:
    headers = {"Authorization": f"Bearer {KEYS[who]}"}
    body = JOB if path == "/v1/jobs" else None
    return httpx.post(f"{server.url}{path}", json=body, headers=headers, timeout=30)


def _refused(response: httpx.Response, limit: str) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"]["limit"] == limit
    assert int(response.headers["retry-after"]) >= 1


def _jobs(server: ServerProcess) -> float:
    metrics = httpx.get(f"{server.url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("dreamforge_jobs{")
    )


def _room_in_this_minute(seconds: float) -> None:
    """Waits for the next minute unless `seconds` are left in this one: a minute is a fixed
    window of the clock, and the checks below must fall into one."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.2)


def test_each_key_is_held_to_its_active_jobs_and_its_creations_per_minute(
    limited: ServerProcess,
) -> None:
    _room_in_this_minute(20)
    first = [_post(limited, "alice").json()["id"] for _ in range(2)]
    before = _jobs(limited)
    _refused(_post(limited, "alice"), "active_jobs")
    assert _jobs(limited) == before  # the refused request stored nothing

    # Bob's key has its own limits: two jobs, both canceled, leave him none active...
    for _ in range(2):
        job = _post(limited, "bob").json()["id"]
        assert _post(limited, "bob", f"/v1/jobs/{job}/cancel").status_code == 202
    # ...and one creation left this minute.
    assert _post(limited, "bob").status_code == 202
    _refused(_post(limited, "bob"), "creations_per_minute")

    for job in first:
        _post(limited, "alice", f"/v1/jobs/{job}/cancel")
    assert _post(limited, "alice").status_code == 202  # its third creation this minute
