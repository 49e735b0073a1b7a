"""Webhooks over real HTTP on both deployments: a local receiver that checks every signature
with the `standardwebhooks` package and fails the first three attempts of each message still
gets each event exactly once, and the job's log tells of every attempt."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
import standardwebhooks

from dreamforge_apps.benchmarks.webhook_receiver import Attempt, WebhookReceiver
from dreamforge_apps.client import ApiError, DreamForgeClient
from tests.e2e.conftest import ServerProcess, wait_for_state

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
QUICK = {"prompt": "p", "count": 2, "width": 64, "height": 64, "steps": 2}


def verify(body: str, headers: Mapping[str, str]) -> None:
    standardwebhooks.Webhook(SECRET).verify(body, dict(headers))


ORDER = {"job.started": 0, "job.item_completed": 1, "job.completed": 2}


def _when(attempt: Attempt) -> tuple[str, int]:
    """When its event happened; the last image and the job's end may share one instant."""
    return attempt.body["timestamp"], ORDER[attempt.body["type"]]


@pytest.fixture
def hooks_server(make_server: object) -> ServerProcess:
    server = make_server(  # type: ignore[operator]
        DREAMFORGE_WEBHOOK_SECRET=SECRET,
        DREAMFORGE_WEBHOOK_ALLOW_PRIVATE="true",  # the receiver is on loopback
        DREAMFORGE_WEBHOOK_RETRY_BASE_S="0.1",
    )
    server.start()
    return server  # type: ignore[no-any-return]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(verify, fail_first=3) as running:
        yield running


def _attempt_lines(
    client: DreamForgeClient, job_id: str, count: int, timeout_s: float = 10
) -> list[dict[str, Any]]:
    """The job's webhook attempt lines, once `count` of them are logged."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [
            line
            for line in client.logs(job_id)
            if line["code"] in ("webhook_delivered", "webhook_failed")
        ]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def _metrics(server: ServerProcess) -> list[str]:
    return httpx.get(f"{server.metrics_url}/metrics").text.splitlines()


def test_each_event_reaches_a_failing_receiver_exactly_once_signed_and_logged(
    hooks_server: ServerProcess, receiver: WebhookReceiver
) -> None:
    client = DreamForgeClient(hooks_server.url)
    job = client.create_job(
        QUICK, webhook=receiver.url, webhook_events=["started", "item_completed", "completed"]
    )
    wait_for_state(client, job["id"], {"succeeded"})
    # Messages are attempted side by side, each retried after its own jittered wait, so
    # they arrive in any order; each tells when its event happened.
    accepted = sorted(receiver.wait_for(4, timeout_s=60), key=_when)

    assert receiver.bad_signatures == 0
    assert [a.body["type"] for a in accepted] == [
        "job.started", "job.item_completed", "job.item_completed", "job.completed",
    ]  # fmt: skip
    assert len({a.message_id for a in accepted}) == 4  # one accepted delivery per event
    for a in accepted:
        tries = [t for t in receiver.attempts if t.message_id == a.message_id]
        assert [t.status for t in tries] == [500, 500, 500, 204]
        assert {t.headers["webhook-signature"] for t in tries} != {""}
        assert a.body["data"]["id"] == job["id"]
    assert accepted[0].body["data"]["state"] == "running"
    items = [a.body["data"]["artifact"] for a in accepted[1:3]]
    assert sorted(i["item_index"] for i in items) == [0, 1]
    assert {i["key"] for i in items} == {a["key"] for a in client.artifacts(job["id"])}
    assert accepted[3].body["data"]["state"] == "succeeded"

    # The receiver answers before the deliverer records the attempt: wait for the last lines.
    lines = _attempt_lines(client, job["id"], count=16)
    assert (
        sorted(line["code"] for line in lines)
        == ["webhook_delivered"] * 4 + ["webhook_failed"] * 12
    )
    assert {line["status_code"] for line in lines if line["code"] == "webhook_failed"} == {500}
    seqs = [line["seq"] for line in client.logs(job["id"])]
    assert seqs == list(range(1, len(seqs) + 1))

    counted = [
        f'dreamforge_webhook_deliveries_total{{outcome="{outcome}"}} {count}.0'
        for outcome, count in (("delivered", 4), ("retried", 12), ("given_up", 0))
    ]
    deadline = time.monotonic() + 10  # counted just after the attempt is recorded
    while not set(counted) <= set(_metrics(hooks_server)) and time.monotonic() < deadline:
        time.sleep(0.05)
    metrics = _metrics(hooks_server)
    for line in counted:
        assert line in metrics, line

    # A stream resumed past `end` sends the attempts' lines that followed it, and ends.
    end = next(line["seq"] for line in client.logs(job["id"]) if line["event"] == "end")
    resumed = [e.data["code"] for e in client.stream(job["id"], last_event_id=end)]
    assert resumed == [line["code"] for line in lines if line["seq"] > end]
    client.close()


def test_a_canceled_job_tells_completed_and_bad_webhooks_are_refused(
    hooks_server: ServerProcess, receiver: WebhookReceiver
) -> None:
    client = DreamForgeClient(hooks_server.url)
    busy = client.create_job({**QUICK, "count": 20, "steps": 150})  # holds the worker
    job = client.create_job(QUICK, webhook=receiver.url)  # default: completed only
    client.cancel(job["id"])
    client.cancel(busy["id"])
    [accepted] = receiver.wait_for(1, timeout_s=60)
    assert accepted.body["type"] == "job.completed"
    assert accepted.body["data"]["state"] == "canceled"

    for fields, name in (
        ({"webhook": "gopher://example.com/"}, "webhook"),
        ({"webhook": receiver.url, "webhook_events": ["done"]}, "webhook_events"),
        ({"webhook": "http://no-such-host.invalid/hook"}, "webhook"),
    ):
        with pytest.raises(ApiError) as refused:
            client.create_job(QUICK, **fields)
        assert refused.value.status == 422
        assert name in [e["field"] for e in refused.value.body["error"]["details"]["errors"]]
    client.close()
