"""Webhooks in the core: what a request may ask for, which messages a job's transitions store,
and how a delivery is signed, retried, logged and given up."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import standardwebhooks

from dreamforge_core.domain.webhooks import WebhookRetry
from dreamforge_core.errors import InvalidInput, Unavailable
from dreamforge_core.ports.webhooks import RefusedTarget

from .conftest import SMALL, Harness, HarnessFactory, WebhookPorts

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
URL = "https://hooks.example.com/dreamforge"


@dataclass
class RecordingSender:
    """Checks targets against a refused list and answers posts with scripted statuses
    (200 once the script runs out); an entry of None means no answer."""

    answers: list[int | None] = field(default_factory=list)
    refused_hosts: set[str] = field(default_factory=set)
    posts: list[tuple[str, dict[str, str], str]] = field(default_factory=list)

    def check(self, url: str) -> None:
        for host in self.refused_hosts:
            if host in url:
                raise RefusedTarget(f"the host {host} is 10.0.0.1, a private address")

    def post(self, url: str, headers: Mapping[str, str], body: str, timeout_s: float) -> int:
        self.check(url)
        self.posts.append((url, dict(headers), body))
        answer = self.answers.pop(0) if self.answers else 200
        if answer is None:
            raise Unavailable(f"no answer within {timeout_s:g} s")
        return answer


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def hooked(make_harness: HarnessFactory, sender: RecordingSender) -> Harness:
    return make_harness(webhooks=WebhookPorts(SECRET, sender))


def _create(h: Harness, **fields: Any) -> str:
    body = {"params": {"prompt": "a lighthouse", **SMALL, **fields.pop("params", {})}}
    return h.create(body=body | fields).job.id


def _deliver_all(h: Harness, rounds: int = 20) -> None:
    """Attempts every due message, moving the clock to each retry time."""
    deliver = h.deliver_webhooks
    assert deliver is not None
    for _ in range(rounds):
        for delivery in deliver.claim(50):
            deliver.attempt(delivery)
        due = h.repo.next_due()
        if due is None:
            return
        h.clock.advance(max(0.0, (due - h.clock.now()).total_seconds()))


def _bodies(sender: RecordingSender) -> list[dict[str, Any]]:
    return [json.loads(body) for _, _, body in sender.posts]


# --- what a request may ask for ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        ({"webhook": "ftp://hooks.example.com/x"}, "webhook"),
        ({"webhook": "https://"}, "webhook"),
        ({"webhook": "https://user:pw@hooks.example.com/"}, "webhook"),
        ({"webhook": 42}, "webhook"),
        ({"webhook": URL, "webhook_events": ["finished"]}, "webhook_events"),
        ({"webhook": URL, "webhook_events": []}, "webhook_events"),
        ({"webhook": URL, "webhook_events": "completed"}, "webhook_events"),
        ({"webhook_events": ["completed"]}, "webhook_events"),
        ({"webhook": "https://internal.example.com/hook"}, "webhook"),  # refused after DNS
    ],
)
def test_a_bad_webhook_is_refused_naming_its_field_and_nothing_is_stored(
    hooked: Harness, sender: RecordingSender, fields: dict[str, Any], field_name: str
) -> None:
    sender.refused_hosts.add("internal.example.com")
    with pytest.raises(InvalidInput) as refused:
        _create(hooked, **fields)
    assert field_name in [e["field"] for e in refused.value.details["errors"]]
    assert hooked.job_count() == 0
    assert hooked.repo.deliveries == {}


def test_without_a_secret_a_webhook_is_refused(harness: Harness) -> None:
    with pytest.raises(InvalidInput) as refused:
        _create(harness, webhook=URL)
    [error] = refused.value.details["errors"]
    assert error["field"] == "webhook"
    assert "DREAMFORGE_WEBHOOK_SECRET" in error["message"]
    assert harness.job_count() == 0


def test_a_webhook_is_part_of_the_request_an_idempotency_key_guards(hooked: Harness) -> None:
    body = {"params": {"prompt": "p", **SMALL}, "webhook": URL}
    first = hooked.create(key="k1", body=body).job
    assert hooked.create(key="k1", body=body).job.id == first.id
    with pytest.raises(Exception, match="different request body"):
        hooked.create(key="k1", body=body | {"webhook": URL + "/other"})


# --- which messages a job stores --------------------------------------------------------------


def test_each_asked_event_is_told_once_in_order_with_the_job_as_it_stood(
    hooked: Harness, sender: RecordingSender
) -> None:
    job_id = _create(
        hooked,
        params={"count": 2},
        webhook=URL,
        webhook_events=["completed", "item_completed", "started"],
    )
    hooked.settle()
    _deliver_all(hooked)

    bodies = _bodies(sender)
    assert [b["type"] for b in bodies] == [
        "job.started", "job.item_completed", "job.item_completed", "job.completed",
    ]  # fmt: skip
    assert bodies[0]["data"]["state"] == "running"
    assert [b["artifact"]["item_index"] for b in (x["data"] for x in bodies[1:3])] == [0, 1]
    assert bodies[1]["data"]["artifact"]["key"] in bodies[1]["data"]["artifact"]["url"]
    assert bodies[3]["data"]["state"] == "succeeded"
    assert {b["data"]["id"] for b in bodies} == {job_id}
    assert all(url == URL for url, _, _ in sender.posts)


def test_by_default_only_completed_is_told_and_a_canceled_job_is_completed(
    hooked: Harness, sender: RecordingSender
) -> None:
    job_id = _create(hooked, webhook=URL)
    hooked.cancel_job(job_id)
    _deliver_all(hooked)
    [body] = _bodies(sender)
    assert body["type"] == "job.completed"
    assert body["data"]["state"] == "canceled"


def test_a_job_without_a_webhook_stores_no_message(hooked: Harness) -> None:
    _create(hooked)
    hooked.settle()
    assert hooked.repo.deliveries == {}


# --- delivery ---------------------------------------------------------------------------------


def test_a_delivery_is_signed_as_standard_webhooks_sign_it(
    hooked: Harness, sender: RecordingSender
) -> None:
    _create(hooked, webhook=URL)
    hooked.settle()
    _deliver_all(hooked)
    [(_, headers, body)] = sender.posts
    assert headers["webhook-id"].startswith("msg_")
    assert headers["content-type"] == "application/json"
    # the library's own signature of the same message (its verify() wants a recent
    # timestamp, and this clock stands in 2026-01-01)
    sent_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    assert headers["webhook-signature"] == standardwebhooks.Webhook(SECRET).sign(
        headers["webhook-id"], sent_at, body
    )


def test_failures_are_retried_with_growing_waits_under_one_id_and_each_attempt_is_logged(
    hooked: Harness, sender: RecordingSender
) -> None:
    sender.answers = [500, None, 302]  # then 200
    job_id = _create(hooked, webhook=URL)
    hooked.settle()
    start = hooked.clock.now()
    _deliver_all(hooked)

    assert len(sender.posts) == 4
    assert len({h["webhook-id"] for _, h, _ in sender.posts}) == 1
    assert len({body for _, _, body in sender.posts}) == 1  # the same bytes every time
    lines = [e for e in hooked.events(job_id) if e.code.startswith("webhook_")]
    assert [e.code for e in lines] == ["webhook_failed"] * 3 + ["webhook_delivered"]
    assert [e.data["status_code"] for e in lines] == [500, None, 302, 200]
    assert [e.data["attempt"] for e in lines] == [1, 2, 3, 4]
    assert all(e.data["will_retry"] for e in lines[:3])
    # base 1 s, doubling, with jitter between half and all of each wait
    assert 0.5 + 1 + 2 <= (lines[-1].ts - start).total_seconds() <= 1 + 2 + 4 + 1
    assert [e.seq for e in hooked.events(job_id)] == list(range(1, len(hooked.events(job_id)) + 1))


def test_a_receiver_that_never_accepts_is_given_up_after_more_than_an_hour(
    hooked: Harness, sender: RecordingSender
) -> None:
    sender.answers = [503] * 100
    job_id = _create(hooked, webhook=URL)
    hooked.settle()
    stored = hooked.clock.now()
    _deliver_all(hooked, rounds=100)

    lines = [e for e in hooked.events(job_id) if e.code == "webhook_failed"]
    assert lines[-1].data["will_retry"] is False
    assert "giving up" in lines[-1].message
    assert lines[-1].ts - stored > timedelta(hours=1)
    assert hooked.repo.next_due() is None
    waits = [(b.ts - a.ts).total_seconds() for a, b in itertools.pairwise(lines)]
    assert max(waits) <= 600  # the cap


def test_a_log_line_written_while_the_job_runs_does_not_disturb_its_worker(
    hooked: Harness, sender: RecordingSender
) -> None:
    job_id = _create(hooked, params={"count": 3}, webhook=URL, webhook_events=["started"])
    deliver = hooked.deliver_webhooks
    assert deliver is not None

    def deliver_during_item_1(request: Any) -> None:
        if request.item_index == 1:
            for delivery in deliver.claim(10):
                deliver.attempt(delivery)  # a line joins the log between two saves

    hooked.runner.before_generate = deliver_during_item_1
    hooked.settle()

    job = hooked.job(job_id)
    assert job.state.value == "succeeded"
    assert len(sender.posts) == 1
    seqs = [e.seq for e in hooked.events(job_id)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert "webhook_delivered" in hooked.codes(job_id)


def test_the_retry_waits_double_up_to_the_cap_with_jitter() -> None:
    retry = WebhookRetry(base_s=5, cap_s=600)
    assert retry.delay_s(1, rand=lambda: 1.0) == 5
    assert retry.delay_s(1, rand=lambda: 0.0) == 2.5
    assert retry.delay_s(3, rand=lambda: 1.0) == 20
    assert retry.delay_s(30, rand=lambda: 1.0) == 600
