"""The Dramatiq job queue against a real Redis (127.0.0.1:6379, or DREAMFORGE_TEST_REDIS_URL).

Every test works in its own key namespace and deletes it afterwards, so parallel runs do not
collide. Workers run in this process, except the one killed with SIGKILL to prove that a dead
worker's message is redelivered. In CI (CI=true) a missing Redis fails the suite.

It is one module because its cases share the Redis fixtures, the namespacing and the private
redis-server that the outage cases stop.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
import redis
from dramatiq import Message, Worker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

from dreamforge_adapters.dramatiq_queue import (
    DramatiqJobQueue,
    close_broker,
    declare_job_actor,
    make_broker,
    ping,
    run_worker,
    start_worker,
)
from dreamforge_core.errors import Unavailable
from tests.support.services import answering_redis, unreachable

REPO_ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_MS = 2_000  # short, so a killed worker's message comes back within seconds
ALWAYS = 1_000_000  # maintenance on every broker command: redelivery as soon as it is due
WAIT_S = 10.0


@pytest.fixture(scope="module")
def redis_url() -> str:
    return answering_redis()


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    ns = f"dftest-{uuid4().hex[:12]}"
    yield ns
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{ns}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class Calls:
    """What a handler saw: job id, dramatiq message id and wall time of each call."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, float]] = []
        self._cond = threading.Condition()

    def record(self, job_id: str) -> None:
        message = CurrentMessage.get_current_message()
        with self._cond:
            self.seen.append((job_id, message.message_id if message else None, time.time()))
            self._cond.notify_all()

    def wait_for(self, n: int, timeout: float = WAIT_S) -> list[tuple[str, str | None, float]]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.seen) >= n, timeout):
                raise AssertionError(f"{len(self.seen)} handler call(s) after {timeout} s, not {n}")
            return list(self.seen)


@dataclass
class Stack:
    broker: RedisBroker
    queue: DramatiqJobQueue
    calls: Calls
    client: redis.Redis
    namespace: str

    def xq(self) -> list[Message[None]]:
        raw = self.client.hgetall(f"{self.namespace}:gpu.XQ.msgs")
        return [
            Message.decode(bytes(body, "utf-8") if isinstance(body, str) else body)
            for body in raw.values()
        ]

    def wait_until(self, check: Callable[[], bool], timeout: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            time.sleep(0.02)


MakeStack = Callable[..., Stack]


@pytest.fixture
def make_stack(redis_url: str, namespace: str) -> Iterator[MakeStack]:
    """Builds broker + queue (+ actor and a running worker when given a handler)."""
    brokers: list[RedisBroker] = []
    workers: list[Worker] = []
    clients: list[redis.Redis] = []

    def make(
        handler: Callable[[Stack, str], None] | None = None,
        *,
        url: str = redis_url,
        time_limit_ms: int = 60_000,
        worker: bool = True,
        poll_ms: int = 100,
        heartbeat_ms: int = HEARTBEAT_MS,
    ) -> Stack:
        broker = make_broker(
            url, namespace=namespace, heartbeat_timeout_ms=heartbeat_ms, maintenance_chance=ALWAYS
        )
        brokers.append(broker)
        client = redis.Redis.from_url(url)
        clients.append(client)
        stack = Stack(broker, DramatiqJobQueue(broker), Calls(), client, namespace)
        if handler is not None:
            bound = handler

            def run(job_id: str) -> None:
                stack.calls.record(job_id)
                bound(stack, job_id)

            declare_job_actor(broker, run, time_limit_ms=time_limit_ms)
            if worker:
                workers.append(start_worker(broker, poll_ms=poll_ms))
        return stack

    yield make
    for w in workers:
        w.stop(timeout=5_000)
    for b in brokers:
        close_broker(b)
    for c in clients:
        c.close()


def _nothing(stack: Stack, job_id: str) -> None:
    return None


def test_importing_the_adapter_creates_no_broker() -> None:
    code = (
        "import dramatiq.broker as b, dreamforge_adapters.dramatiq_queue\n"
        "assert b.global_broker is None, b.global_broker\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=60)


def test_enqueued_job_runs_in_the_worker_and_is_acknowledged(make_stack: MakeStack) -> None:
    stack = make_stack(_nothing)
    stack.queue.enqueue("job-1")
    [(job_id, message_id, _)] = stack.calls.wait_for(1)
    assert job_id == "job-1"
    assert message_id is not None
    stack.wait_until(lambda: stack.queue.depth()["running"] == 0)
    assert stack.queue.depth() == {"ready": 0, "delayed": 0, "dead_letter": 0, "running": 0}


def test_an_enqueue_wakes_an_idle_worker_long_before_its_next_poll(
    make_stack: MakeStack,
) -> None:
    stack = make_stack(_nothing, poll_ms=3_000, heartbeat_ms=30_000)
    time.sleep(0.3)  # the worker found nothing and waits; its next poll is ~2.7 s away
    sent = time.time()
    stack.queue.enqueue("job-now")
    [(_, _, ran)] = stack.calls.wait_for(1, timeout=2.0)
    assert ran - sent < 2.0


def test_delayed_job_runs_no_earlier_than_its_delay(make_stack: MakeStack) -> None:
    stack = make_stack(_nothing)
    sent = time.time()
    stack.queue.enqueue("job-later", delay_s=1.0)
    assert stack.queue.depth()["delayed"] == 1
    [(_, _, ran)] = stack.calls.wait_for(1)
    assert ran - sent >= 1.0
    assert ran - sent < 1.0 + 3.0  # and not much later
    stack.wait_until(lambda: stack.queue.depth()["delayed"] == 0)


def test_depth_counts_ready_delayed_and_dead_letters_and_requeue_moves_them_back(
    make_stack: MakeStack,
) -> None:
    stack = make_stack()  # no worker: messages stay where they are put
    queue = stack.queue
    queue.enqueue("a")
    queue.enqueue("b")
    queue.enqueue("c", delay_s=60)
    queue.dead_letter("d", "timeout: swept after the worker vanished")
    assert queue.depth() == {"ready": 2, "delayed": 1, "dead_letter": 1, "running": 0}
    [parked] = queue.dead_letters()
    assert (parked.job_id, parked.reason) == ("d", "timeout: swept after the worker vanished")
    assert [m.args for m in stack.xq()] == [("d",)]

    assert queue.requeue_dead_letters(["not-there"]) == 0
    assert queue.requeue_dead_letters() == 1
    assert queue.depth() == {"ready": 3, "delayed": 1, "dead_letter": 0, "running": 0}
    assert queue.dead_letters() == []


def test_dead_letter_in_the_handler_parks_the_message_once_not_retried(
    make_stack: MakeStack,
) -> None:
    def poisoned(stack: Stack, job_id: str) -> None:
        stack.queue.dead_letter(job_id, "internal: unexpected error")

    stack = make_stack(poisoned)
    stack.queue.enqueue("job-poison")
    [(_, message_id, _)] = stack.calls.wait_for(1)
    stack.wait_until(lambda: stack.queue.depth()["dead_letter"] == 1)
    time.sleep(1.0)  # room for a retry, were there one
    assert len(stack.calls.seen) == 1
    [parked] = stack.xq()
    assert (parked.args, parked.message_id) == (("job-poison",), message_id)
    [record] = stack.queue.dead_letters()
    assert (record.job_id, record.reason) == ("job-poison", "internal: unexpected error")
    assert record.message_id == message_id
    assert stack.queue.depth() == {"ready": 0, "delayed": 0, "dead_letter": 1, "running": 0}


def test_an_exception_in_the_handler_is_dead_lettered_not_retried(make_stack: MakeStack) -> None:
    def broken(stack: Stack, job_id: str) -> None:
        raise RuntimeError("bug")

    stack = make_stack(broken)
    stack.queue.enqueue("job-bug")
    stack.calls.wait_for(1)
    stack.wait_until(lambda: stack.queue.depth()["dead_letter"] == 1)
    time.sleep(1.0)
    assert len(stack.calls.seen) == 1
    assert [m.args for m in stack.xq()] == [("job-bug",)]
    [record] = stack.queue.dead_letters()
    assert record.reason == "unhandled: RuntimeError('bug')"


def test_a_busy_worker_holds_only_its_job_and_stops_after_it(
    make_stack: MakeStack,
) -> None:
    """One GPU, one job: the next message stays in Redis for any idle worker to take."""
    release = threading.Event()

    def slow(stack: Stack, job_id: str) -> None:
        release.wait(WAIT_S)

    stack = make_stack(slow, worker=False)
    stop = threading.Event()
    serving = threading.Thread(target=run_worker, args=(stack.broker,), kwargs={"stop": stop})
    serving.start()
    try:
        stack.queue.enqueue("first")
        stack.queue.enqueue("second")
        stack.calls.wait_for(1)
        time.sleep(0.5)  # several polls: a prefetching worker would have taken "second" by now
        assert stack.queue.depth() == {"ready": 1, "delayed": 0, "dead_letter": 0, "running": 1}
        stop.set()
        time.sleep(0.3)
        assert serving.is_alive()  # a graceful stop waits for the running job
    finally:
        release.set()
        stop.set()
        serving.join(WAIT_S)
    assert not serving.is_alive()
    assert [job_id for job_id, _, _ in stack.calls.seen] == ["first"]
    assert stack.queue.depth() == {"ready": 1, "delayed": 0, "dead_letter": 0, "running": 0}


def test_the_time_limit_interrupts_a_job_running_in_process(make_stack: MakeStack) -> None:
    """TimeLimit's watchdog starts on `process_boot`, which only the dramatiq CLI emits;
    start_worker emits it, or this limit would be silently ignored."""
    finished = threading.Event()

    def endless(stack: Stack, job_id: str) -> None:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            time.sleep(0.02)
        finished.set()

    stack = make_stack(endless, time_limit_ms=300)
    stack.queue.enqueue("job-slow")
    stack.calls.wait_for(1)
    stack.wait_until(lambda: stack.queue.depth()["dead_letter"] == 1, timeout=5)
    assert not finished.is_set()
    [record] = stack.queue.dead_letters()
    assert "TimeLimitExceeded" in record.reason


def _slow_worker_main(redis_url: str, namespace: str) -> None:
    """Runs in a subprocess: a worker whose job never finishes, to be killed with SIGKILL."""
    broker = make_broker(
        redis_url, namespace=namespace, heartbeat_timeout_ms=HEARTBEAT_MS, maintenance_chance=ALWAYS
    )
    client = redis.Redis.from_url(redis_url)

    def stuck(job_id: str) -> None:
        message = CurrentMessage.get_current_message()
        started = {"job_id": job_id, "message_id": message.message_id if message else None}
        client.rpush(f"{namespace}:test.started", json.dumps(started))
        time.sleep(600)

    declare_job_actor(broker, stuck, time_limit_ms=600_000)
    run_worker(broker, stop=threading.Event())


def test_a_message_of_a_killed_worker_is_redelivered_to_another(
    make_stack: MakeStack, redis_url: str, namespace: str
) -> None:
    stack = make_stack(worker=False)
    code = "import sys; from tests.integration.test_dramatiq_queue import _slow_worker_main as m; "
    code += "m(sys.argv[1], sys.argv[2])"
    doomed = subprocess.Popen([sys.executable, "-c", code, redis_url, namespace], cwd=REPO_ROOT)
    try:
        # Its first poll is its first heartbeat: from then on it takes what we enqueue.
        stack.wait_until(lambda: stack.client.zcard(f"{namespace}:__heartbeats__") > 0, 30)
        stack.queue.enqueue("job-crash")
        popped = stack.client.blpop([f"{namespace}:test.started"], timeout=WAIT_S)
        assert popped is not None, "the doomed worker never started the job"
        first = json.loads(popped[1])

        rescuer = make_stack(_nothing)
        time.sleep(HEARTBEAT_MS / 1000 * 1.5)  # a busy, live worker keeps its message
        assert rescuer.calls.seen == []
        assert stack.queue.depth()["running"] == 1

        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        killed = time.time()
        [(job_id, message_id, ran)] = rescuer.calls.wait_for(1, timeout=30)
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait(10)
    assert (job_id, message_id) == (first["job_id"], first["message_id"])
    assert ran - killed < HEARTBEAT_MS / 1000 + 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A throwaway redis-server on its own port, with no persistence, that tests can stop."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unreachable("redis-server is not installed")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                ping(self.url, timeout_s=0.5)
                return
            except Unavailable:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis(_free_port())
    server.start()
    yield server
    server.stop()


def test_redis_down_is_unavailable_and_recovers_when_it_returns(
    make_stack: MakeStack, private_redis: PrivateRedis
) -> None:
    stack = make_stack(url=private_redis.url, worker=False)
    stack.queue.enqueue("before")
    stack.queue.ping()

    private_redis.stop()
    began = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        stack.queue.enqueue("while-down")
    assert isinstance(caught.value.__cause__, redis.RedisError)
    assert time.monotonic() - began < 5  # fails fast: the API answers 503, the sweeper retries
    with pytest.raises(Unavailable):
        stack.queue.ping()
    with pytest.raises(Unavailable):
        ping(private_redis.url, timeout_s=0.5)

    private_redis.start()  # a fresh, empty server on the same port
    stack.queue.enqueue("after")
    stack.queue.ping()
    assert stack.queue.depth()["ready"] == 1
