"""One contract for the JobQueue port: the in-process queue (embedded) and Dramatiq on Redis
(stack). A queue hands each enqueued job id to the handler, not before its delay, and parks a
dead-lettered job where operators can see it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import redis

from dreamforge_adapters.dramatiq_queue import (
    DramatiqJobQueue,
    close_broker,
    declare_job_actor,
    make_broker,
    start_worker,
)
from dreamforge_adapters.inprocess import InProcessJobQueue
from tests.support.services import answering_redis

WAIT_S = 10.0


@dataclass
class Harness:
    queue: DramatiqJobQueue | InProcessJobQueue
    seen: list[tuple[str, float]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    on_job: Callable[[str], None] | None = None

    def handle(self, job_id: str) -> None:
        self.seen.append((job_id, time.monotonic()))
        if self.on_job is not None:
            self.on_job(job_id)
        self.arrived.set()

    def wait_for(self, n: int) -> None:
        deadline = time.monotonic() + WAIT_S
        while len(self.seen) < n:
            assert time.monotonic() < deadline, f"only {len(self.seen)} of {n} jobs ran"
            time.sleep(0.01)

    def dead_lettered(self) -> list[str]:
        if isinstance(self.queue, InProcessJobQueue):
            return [job_id for job_id, _ in self.queue.dead_letters]
        return [d.job_id for d in self.queue.dead_letters()]


def _inprocess() -> Iterator[Harness]:
    queue = InProcessJobQueue()
    harness = Harness(queue)
    queue.start(harness.handle)
    yield harness
    queue.stop()


def _dramatiq() -> Iterator[Harness]:
    redis_url = answering_redis()
    namespace = f"dreamforge-contract-{uuid.uuid4().hex[:8]}"
    broker = make_broker(redis_url, namespace=namespace)
    queue = DramatiqJobQueue(broker)
    harness = Harness(queue)
    declare_job_actor(broker, harness.handle, time_limit_ms=60_000)
    worker = start_worker(broker, poll_ms=20)
    yield harness
    worker.stop(timeout=5_000)
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)
    client.close()
    close_broker(broker)


@pytest.fixture(params=["inprocess", "dramatiq"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    yield from (_inprocess() if request.param == "inprocess" else _dramatiq())


def test_an_enqueued_job_reaches_the_handler(harness: Harness) -> None:
    harness.queue.enqueue("job-1")
    harness.wait_for(1)
    assert [job_id for job_id, _ in harness.seen] == ["job-1"]


def test_a_delayed_job_runs_no_earlier_than_its_delay(harness: Harness) -> None:
    sent = time.monotonic()
    harness.queue.enqueue("later", delay_s=0.5)
    harness.wait_for(1)
    assert harness.seen[0][1] - sent >= 0.5


def test_every_enqueued_job_runs(harness: Harness) -> None:
    for n in range(10):
        harness.queue.enqueue(f"job-{n}")
    harness.wait_for(10)
    assert sorted(job_id for job_id, _ in harness.seen) == sorted(f"job-{n}" for n in range(10))


def test_a_dead_lettered_job_is_parked_once_and_not_run_again(harness: Harness) -> None:
    harness.on_job = lambda job_id: harness.queue.dead_letter(job_id, "internal: poisoned")
    harness.queue.enqueue("poison")
    harness.wait_for(1)
    deadline = time.monotonic() + WAIT_S
    while harness.dead_lettered() != ["poison"]:
        assert time.monotonic() < deadline, harness.dead_lettered()
        time.sleep(0.02)
    time.sleep(0.3)
    assert [job_id for job_id, _ in harness.seen] == ["poison"]  # not retried by the queue
    assert harness.queue.depth()["dead_letter"] == 1
