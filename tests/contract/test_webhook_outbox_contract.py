"""The webhook outbox contract, on every store (see conftest.webhook_store): a message is
stored with the change that causes it, handed to one deliverer at a time, and every attempt
adds a line to the job's log without making the job's own writer conflict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dreamforge_core.domain.events import EventDraft, EventKind
from dreamforge_core.domain.job import Job
from dreamforge_core.domain.params import GenerateParams
from dreamforge_core.domain.webhooks import Webhook
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.webhooks import AttemptRecord, WebhookOutbox

T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
URL = "https://hooks.example.com/x"
Store = tuple[JobRepo, WebhookOutbox]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def hooked_job(events: tuple[str, ...] = ("started", "completed")) -> Job:
    params = GenerateParams(
        prompt="p", negative_prompt="", seed=None, width=256, height=256, steps=2, guidance=5.0,
        scheduler="euler_a", format="png", count=1,
    )  # fmt: skip
    return Job.create(
        params=params, model_id="m", provider="local-sdxl-epicrealism", now=T0,
        webhook=Webhook(URL, events),
    )  # fmt: skip


def line(code: str, now: datetime) -> EventDraft:
    return EventDraft(EventKind.LOG, code, code, now, data={"status_code": 200})


def started(repo: JobRepo) -> Job:
    job = hooked_job()
    repo.create(job, T0 - timedelta(days=1))
    job.start(at(1))
    repo.save(job)
    return job


def test_the_job_keeps_its_webhook(webhook_store: Store) -> None:
    repo, _ = webhook_store
    job = started(repo)
    stored = repo.get(job.id)
    assert stored is not None
    assert stored.webhook == Webhook(URL, ("started", "completed"))


def test_a_message_is_stored_with_its_change_and_claimed_by_one_deliverer(
    webhook_store: Store,
) -> None:
    repo, outbox = webhook_store
    assert outbox.next_due() is None
    job = started(repo)

    assert outbox.next_due() == at(1)
    [message] = outbox.claim(at(2), at(30), 10)
    assert message.job_id == job.id
    assert message.url == URL
    assert message.type == "job.started"
    assert message.body == '{"type": "job.started", "state": "running"}'
    assert message.id.startswith("msg_")
    assert message.attempts == 0
    assert outbox.claim(at(3), at(30), 10) == []  # claimed: not due before the lease ends
    assert outbox.next_due() == at(30)
    [again] = outbox.claim(at(31), at(60), 10)  # a deliverer that died lets it go
    assert again.id == message.id


def test_an_attempt_is_recorded_with_the_next_line_of_the_log(webhook_store: Store) -> None:
    repo, outbox = webhook_store
    job = started(repo)
    last = repo.events(job.id)[-1].seq
    [message] = outbox.claim(at(2), at(30), 10)

    [failed] = outbox.record(AttemptRecord(message, False, at(10), line("webhook_failed", at(2))))
    assert failed.seq == last + 1
    assert failed.code == "webhook_failed"
    assert outbox.next_due() == at(10)
    [retried] = outbox.claim(at(10), at(40), 10)
    assert retried.attempts == 1
    assert retried.id == message.id

    outbox.record(AttemptRecord(retried, True, None, line("webhook_delivered", at(11))))
    assert outbox.next_due() is None
    assert outbox.claim(at(100), at(200), 10) == []
    codes = [e.code for e in repo.events(job.id)]
    assert codes[-2:] == ["webhook_failed", "webhook_delivered"]


def test_the_jobs_writer_saves_after_a_line_it_did_not_see(webhook_store: Store) -> None:
    repo, outbox = webhook_store
    job = started(repo)  # the worker's copy
    [message] = outbox.claim(at(2), at(30), 10)
    outbox.record(AttemptRecord(message, True, None, line("webhook_delivered", at(2))))

    job.start_item(0, 7, at(3))
    stored = repo.save(job)  # no conflict: the line changed no part of the job

    seqs = [e.seq for e in repo.events(job.id)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert stored[0].seq == seqs[-1]
    assert job.last_seq == seqs[-1]
    reread = repo.get(job.id)
    assert reread is not None
    assert reread.last_seq == seqs[-1]


def test_a_completed_job_stores_its_message_with_the_final_state(webhook_store: Store) -> None:
    repo, outbox = webhook_store
    job = hooked_job(events=("completed",))
    repo.create(job, T0 - timedelta(days=1))
    job.cancel(at(1))
    repo.save(job)
    [message] = outbox.claim(at(2), at(30), 10)
    assert message.body == '{"type": "job.completed", "state": "canceled"}'
