"""SSE: a reconnect with Last-Event-ID continues without gap or duplicate."""

from __future__ import annotations

import contextlib
import json
from urllib.parse import quote

import httpx
import pytest

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess
from tests.support.raw_http import raw_get


@pytest.fixture(scope="module")
def server(shared_server: ServerProcess) -> ServerProcess:
    """These tests read only the jobs they created: one server per deployment serves them
    (the reconnect test, with slower steps, starts its own)."""
    return shared_server


def test_reconnect_mid_job_continues_without_gap_or_duplicate(make_server: object) -> None:
    server: ServerProcess = make_server(DREAMFORGE_FAKE_STEP_DELAY_S="0.02")  # type: ignore[operator]
    server.start()
    client = DreamForgeClient(server.url)
    job = client.create_job({"prompt": "p", "count": 3, "width": 64, "height": 64, "steps": 10})

    first: list[int] = []
    for event in client.stream(job["id"]):
        first.append(event.id or 0)
        if event.event == "progress" and event.data["item_index"] == 1:
            break  # drop the connection mid-job
    assert client.job(job["id"])["state"] == "running"

    rest = [(e.id, e.event) for e in client.stream(job["id"], last_event_id=first[-1])]
    ids = first + [i for i, _ in rest]
    assert ids == list(range(1, len(ids) + 1))
    assert rest[-1][1] == "end"
    logs = httpx.get(f"{server.url}/v1/jobs/{job['id']}/logs").text.splitlines()
    assert len(logs) == len(ids)
    client.close()


def test_stream_of_a_finished_job_replays_and_ends(client: DreamForgeClient) -> None:
    job = client.create_job({"prompt": "p", "width": 64, "height": 64, "steps": 2})
    everything = list(client.stream(job["id"]))
    replay = list(client.stream(job["id"]))
    assert [e.id for e in replay] == [e.id for e in everything]
    tail = list(client.stream(job["id"], last_event_id=everything[-3].id))
    assert [e.id for e in tail] == [e.id for e in everything[-2:]]
    assert tail[-1].event == "end"
    # Resuming at the end of a finished job ends at once, with nothing to send.
    assert list(client.stream(job["id"], last_event_id=everything[-1].id)) == []


ODD_IDS = ["9" * 5000, "1" * 300, "²", "٣", "é", "-1", "1e3"]


def test_an_odd_last_event_id_gets_422(server: ServerProcess, client: DreamForgeClient) -> None:
    job = client.create_job({"prompt": "p", "width": 64, "height": 64, "steps": 2})
    path = f"/v1/jobs/{job['id']}/progress/stream"
    for value in ODD_IDS:
        query = _raw_get(server, f"{path}?last_event_id={quote(value)}")
        # a header carries bytes: the value in UTF-8, and in Latin-1 where it has one
        headers = {value.encode()}
        with contextlib.suppress(UnicodeEncodeError):
            headers.add(value.encode("latin-1"))
        answers = [query] + [_raw_get(server, path, {"Last-Event-ID": h}) for h in headers]
        for status, body in answers:
            assert status == 422, (value[:20], status, body[:200])
            error = json.loads(body)["error"]
            assert error["code"] == "invalid_input"
            assert error["details"]["errors"][0]["field"] in ("Last-Event-ID", "last_event_id")


def _raw_get(
    server: ServerProcess, target: str, headers: dict[str, bytes] | None = None
) -> tuple[int, bytes]:
    """GET with the target and header values sent byte for byte."""
    return raw_get(server.port, target, headers or {})
