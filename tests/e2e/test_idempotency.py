"""`Idempotency-Key`: concurrent duplicates create one job; another body is a conflict."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import ServerProcess


@pytest.fixture(scope="module")
def server(shared_server: ServerProcess) -> ServerProcess:
    """These tests read only the jobs they created, under Idempotency-Keys of their own: one
    server per deployment serves them."""
    return shared_server


BODY = {"params": {"prompt": "same", "width": 64, "height": 64, "steps": 2}}


def test_twenty_concurrent_posts_with_one_key_create_one_job(server: ServerProcess) -> None:
    def post(_: int) -> httpx.Response:
        return httpx.post(
            f"{server.url}/v1/jobs",
            json=BODY,
            headers={"Idempotency-Key": "order-7731"},
            timeout=30,
        )

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    replayed = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    assert len(replayed) == 19

    conflict = httpx.post(
        f"{server.url}/v1/jobs",
        json={"params": {**BODY["params"], "prompt": "other"}},
        headers={"Idempotency-Key": "order-7731"},
    )
    assert conflict.status_code == 409
    error = conflict.json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert error["job_id"] == responses[0].json()["id"]


def test_replay_after_the_job_finished_returns_it_as_it_is_now(server: ServerProcess) -> None:
    first = httpx.post(f"{server.url}/v1/jobs", json=BODY, headers={"Idempotency-Key": "k2"})
    job_id = first.json()["id"]
    with httpx.stream("GET", f"{server.url}/v1/jobs/{job_id}/progress/stream") as stream:
        for _ in stream.iter_lines():
            pass
    again = httpx.post(f"{server.url}/v1/jobs", json=BODY, headers={"Idempotency-Key": "k2"})
    assert again.status_code == 202
    assert again.json()["id"] == job_id
    assert again.json()["state"] == "succeeded"
    assert again.headers["idempotent-replayed"] == "true"


def test_an_idempotency_key_is_scoped_to_the_api_key(make_server: object) -> None:
    server: ServerProcess = make_server(DREAMFORGE_API_KEYS="alice,bob")  # type: ignore[operator]
    server.start()
    other = {"params": {**BODY["params"], "prompt": "other"}}

    def post(api_key: str, body: dict[str, object]) -> httpx.Response:
        return httpx.post(
            f"{server.url}/v1/jobs",
            json=body,
            headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": "shared-1"},
            timeout=30,
        )

    alices = post("alice", BODY)
    assert alices.status_code == 202
    # bob's same key, even with the same body, is his own: a new job, not alice's replayed
    bobs = post("bob", BODY)
    assert bobs.status_code == 202
    assert bobs.json()["id"] != alices.json()["id"]
    assert "idempotent-replayed" not in bobs.headers
    # each key replays its own job, and a conflict never names the other key's job
    for api_key, own in (("alice", alices), ("bob", bobs)):
        again = post(api_key, BODY)
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.json()["id"] == own.json()["id"]
        conflict = post(api_key, other)
        assert conflict.status_code == 409
        assert conflict.json()["error"]["job_id"] == own.json()["id"]
