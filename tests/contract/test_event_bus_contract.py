"""The EventBus contract, run against the in-process bus and the Postgres LISTEN/NOTIFY bus.

Postgres delivers on its listener thread, so every test waits for what it expects rather than
asserting right after `publish`. To show that something was NOT delivered, a test publishes a
marker afterwards and waits for it: one listener connection delivers in publish order, so
anything that would have arrived has arrived by then.

The Postgres-only tests at the end cover what one process cannot show: two buses (two
processes), payloads over NOTIFY's 8000-byte limit, and a listener whose connection is killed.

It is one module because it is one contract: every case runs against both buses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from dreamforge_adapters.postgres import PostgresDatabase, PostgresEventBus, PostgresJobRepo
from dreamforge_core.domain.events import Event, EventKind, LivePreview
from dreamforge_core.domain.job import Job
from dreamforge_core.domain.params import GenerateParams
from dreamforge_core.errors import ConcurrentUpdate
from dreamforge_core.ports.event_bus import EventBus

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer

T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
WAIT_S = 5.0


def event(job_id: str, seq: int, **data: object) -> Event:
    return Event(
        job_id=job_id, seq=seq, kind=EventKind.LOG, code="tick", message=f"tick {seq} ✓",
        ts=T0 + timedelta(seconds=seq, microseconds=seq), step_id="s1", item_index=seq % 3,
        data={"n": seq, "nested": {"a": [1, 2.5]}, **data},
    )  # fmt: skip


class Inbox:
    """A callback that keeps what it gets, safe to read from the test thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._got: list[Event] = []

    def __call__(self, e: Event) -> None:
        with self._lock:
            self._got.append(e)

    @property
    def got(self) -> list[Event]:
        with self._lock:
            return list(self._got)

    def seqs(self) -> list[int]:
        return [e.seq for e in self.got]


def wait_for(condition: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for delivery")
        time.sleep(0.002)


# --- every bus --------------------------------------------------------------------------------


def test_subscribers_get_their_jobs_events_in_publish_order(event_bus: EventBus) -> None:
    a, b = Inbox(), Inbox()
    event_bus.subscribe("job-a", a)
    event_bus.subscribe("job-b", b)
    a_events = [event("job-a", seq) for seq in range(1, 6)]
    b_events = [event("job-b", seq) for seq in range(1, 4)]

    event_bus.publish(a_events[:2])
    event_bus.publish([b_events[0], a_events[2], b_events[1]])
    event_bus.publish([*a_events[3:], b_events[2]])

    wait_for(lambda: len(a.got) == 5 and len(b.got) == 3)
    assert a.got == a_events
    assert b.got == b_events


def test_a_subscriber_gets_nothing_of_other_jobs(event_bus: EventBus) -> None:
    mine = Inbox()
    event_bus.subscribe("mine", mine)

    event_bus.publish([event("other", 1), event("other", 2)])
    event_bus.publish([event("mine", 1)])

    wait_for(lambda: mine.got != [])
    assert mine.seqs() == [1]


def test_a_closed_subscription_gets_nothing_more(event_bus: EventBus) -> None:
    leaving, staying = Inbox(), Inbox()
    subscription = event_bus.subscribe("job", leaving)
    event_bus.subscribe("job", staying)
    event_bus.publish([event("job", 1)])
    wait_for(lambda: len(leaving.got) == 1 and len(staying.got) == 1)

    subscription.close()
    event_bus.publish([event("job", 2)])

    wait_for(lambda: len(staying.got) == 2)
    assert leaving.seqs() == [1]
    assert staying.seqs() == [1, 2]


def test_a_failing_callback_does_not_stop_delivery_to_others(event_bus: EventBus) -> None:
    calls: list[int] = []

    def broken(e: Event) -> None:
        calls.append(e.seq)
        raise RuntimeError("follower bug")

    healthy = Inbox()
    event_bus.subscribe("job", broken)
    event_bus.subscribe("job", healthy)

    event_bus.publish([event("job", 1), event("job", 2)])

    wait_for(lambda: len(healthy.got) == 2)
    assert calls == [1, 2]


# --- Postgres only ----------------------------------------------------------------------------


def preview(job_id: str, step: int, size: int = 100) -> LivePreview:
    image = "data:image/jpeg;base64," + ("ABCD" * size)[:size]
    return LivePreview(job_id, step % 2, step, 30, image)


def test_previews_reach_their_jobs_followers_only_and_never_events(event_bus: EventBus) -> None:
    seen: list[LivePreview] = []
    other: list[LivePreview] = []
    events = Inbox()
    event_bus.subscribe("job-a", events)
    event_bus.subscribe_previews("job-a", seen.append)
    closed = event_bus.subscribe_previews("job-a", other.append)
    closed.close()
    event_bus.subscribe_previews("job-b", other.append)
    event_bus.publish_preview(preview("job-a", 1))
    event_bus.publish_preview(preview("job-a", 2))
    event_bus.publish([event("job-a", 1)])  # the marker: what came before it has arrived
    wait_for(lambda: len(events.got) == 1 and len(seen) == 2)
    assert seen == [preview("job-a", 1), preview("job-a", 2)]
    assert other == []
    assert events.got == [event("job-a", 1)]


@pytest.fixture
def second_database(postgres_database: PostgresDatabase) -> Iterator[PostgresDatabase]:
    """Another pool on the same database, as another process would have."""
    database = PostgresDatabase(postgres_database.dsn, max_size=2)
    database.open(wait=True)
    yield database
    database.close()


def listening_bus(
    database: PostgresDatabase, source: PostgresJobRepo | None = None
) -> PostgresEventBus:
    bus = PostgresEventBus(database, source=source)
    bus.start()
    assert bus.wait_until_listening(WAIT_S)
    return bus


def stored_job(repo: PostgresJobRepo) -> Job:
    params = GenerateParams(prompt="a lighthouse", count=1)
    job = Job.create(params=params, model_id="m", provider="p", now=T0)
    repo.create(job, T0 - timedelta(days=1))
    return job


def test_postgres_events_cross_from_one_bus_to_another(
    postgres_database: PostgresDatabase, second_database: PostgresDatabase
) -> None:
    publisher = PostgresEventBus(postgres_database)  # a worker: publishes, never listens
    follower = listening_bus(second_database)
    inbox = Inbox()
    follower.subscribe("job", inbox)
    try:
        publisher.publish([event("job", 1), event("job", 2)])
        wait_for(lambda: len(inbox.got) == 2)
        assert inbox.got == [event("job", 1), event("job", 2)]
        assert publisher.listener_pid is None
    finally:
        follower.close()
        publisher.close()


def test_postgres_a_preview_over_the_notify_limit_crosses_in_parts(
    postgres_database: PostgresDatabase, second_database: PostgresDatabase
) -> None:
    publisher = PostgresEventBus(postgres_database, announced_by_repo=True)  # as the worker's
    follower = listening_bus(second_database)
    seen: list[LivePreview] = []
    follower.subscribe_previews("job", seen.append)
    big, small = preview("job", 10, size=30_000), preview("job", 20)
    try:
        publisher.publish_preview(big)
        publisher.publish_preview(small)
        wait_for(lambda: len(seen) == 2)
        assert seen == [big, small]
    finally:
        follower.close()
        publisher.close()


def test_postgres_an_event_over_the_notify_limit_is_read_from_the_repository(
    postgres_database: PostgresDatabase, second_database: PostgresDatabase
) -> None:
    repo = PostgresJobRepo(postgres_database)
    job = stored_job(repo)
    job.note("big", "a large event", T0, blob="é" * 9000)  # 18 kB of UTF-8
    job.note("small", "a small one", T0)
    big, small = repo.save(job)
    resolving = listening_bus(second_database, source=repo)
    blind = listening_bus(second_database)  # no source: the stub is dropped
    resolved, unresolved = Inbox(), Inbox()
    resolving.subscribe(job.id, resolved)
    blind.subscribe(job.id, unresolved)
    try:
        PostgresEventBus(postgres_database).publish([big, small])
        wait_for(lambda: len(resolved.got) == 2 and len(unresolved.got) == 1)
        assert resolved.got == [big, small]
        assert unresolved.got == [small]
    finally:
        resolving.close()
        blind.close()


def test_postgres_the_listener_survives_its_connection_being_killed(
    postgres_database: PostgresDatabase,
    second_database: PostgresDatabase,
    postgres_server: PostgresServer,
) -> None:
    repo = PostgresJobRepo(postgres_database)
    publisher = PostgresEventBus(postgres_database)
    follower = listening_bus(second_database, source=repo)
    job = stored_job(repo)
    inbox = Inbox()
    follower.subscribe(job.id, inbox)

    def tick(n: int) -> None:
        job.note("tick", f"tick {n}", T0 + timedelta(seconds=n))
        publisher.publish(repo.save(job))

    try:
        tick(1)
        wait_for(lambda: inbox.seqs() == [2])
        killed = follower.listener_pid
        assert killed is not None
        postgres_server.terminate(killed)
        tick(2)  # published while the listener may be away: caught up from the repository
        wait_for(lambda: follower.listener_pid not in (None, killed))
        tick(3)
        wait_for(lambda: len(inbox.got) == 3)
        assert inbox.seqs() == [2, 3, 4]
        assert inbox.got == repo.events(job.id, after_seq=1)
    finally:
        follower.close()


# --- the repository announcing its own writes (the stack's wiring) -----------------------------


def test_postgres_an_announcing_repository_notifies_in_the_writing_transaction(
    postgres_database: PostgresDatabase, second_database: PostgresDatabase
) -> None:
    repo = PostgresJobRepo(postgres_database, announce=True)
    quiet = PostgresEventBus(postgres_database, announced_by_repo=True)
    follower = listening_bus(second_database, source=repo)
    job = stored_job(repo)
    inbox = Inbox()
    follower.subscribe(job.id, inbox)
    try:
        for n in range(1, 4):
            job.note("tick", f"tick {n}", T0 + timedelta(seconds=n))
        job.note("big", "too long for one NOTIFY", T0, blob="é" * 9000)
        saved = repo.save(job)
        quiet.publish(saved)  # nothing left to send: a second copy would show as a duplicate
        wait_for(lambda: inbox.seqs()[-1:] == [saved[-1].seq])
        time.sleep(0.2)
        later = [e for e in inbox.got if e.seq > 1]  # job_created may come, subscribed late
        assert later == saved  # in order, once each, the big one resolved from the table
        assert later == repo.events(job.id, after_seq=1)
    finally:
        follower.close()


def test_postgres_an_announcing_repository_announces_nothing_that_did_not_commit(
    postgres_database: PostgresDatabase, second_database: PostgresDatabase
) -> None:
    repo = PostgresJobRepo(postgres_database, announce=True)
    follower = listening_bus(second_database, source=repo)
    job = stored_job(repo)
    stale = repo.get(job.id)
    assert stale is not None
    inbox = Inbox()
    follower.subscribe(job.id, inbox)
    try:
        job.note("first", "stored", T0)
        repo.save(job)
        stale.note("lost", "written over a newer version", T0)
        with pytest.raises(ConcurrentUpdate):
            repo.save(stale)
        job.note("second", "stored", T0)
        repo.save(job)
        wait_for(lambda: "second" in [e.code for e in inbox.got])
        time.sleep(0.2)
        assert [e.code for e in inbox.got if e.seq > 1] == ["first", "second"]
    finally:
        follower.close()
