"""The production stack under faults: retries run out, Redis, Postgres and S3 go away mid-run.

The machine's shared Postgres, Redis and SeaweedFS are never stopped: the stack reaches each
through a `TcpProxy` of this test, and `proxy.down()` is the outage (every connection cut, the
port refusing), `proxy.up()` the service coming back on the same address. Timings are shrunk
through the settings (lease, sweep, retry delays, fake step delay) so the file stays short.

What is proven:
- a job that always fails transiently is tried exactly DREAMFORGE_MAX_ATTEMPTS times with
  growing delays, ends `failed` with its attempts and last error, and is dead-lettered;
- Redis down: jobs are still accepted (202, durable), reads work, /ready names redis; the
  running job finishes; once Redis is back the accepted job runs: none is lost;
- Postgres down: 503 `unavailable` envelopes without tracebacks, /ready names the database;
  the same API process heals by itself; the job that was running completes;
- S3 down: a short outage is absorbed by the upload retries; a longer one fails the item
  with `storage_error` and the core's retry rule finishes the batch once S3 is back;
  either way the job ends with exactly `count` artifacts and no orphaned object;
- the API's artifact URLs: presigned ones work within their TTL and get 403 after it, the
  same object without a signature gets 403.

It is one module because every case needs the same proxied services and stack fixtures, which
are costly to start and are shared across the cases.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dreamforge_adapters.dramatiq_queue import DramatiqJobQueue, close_broker, make_broker
from dreamforge_apps.client import DreamForgeClient
from tests.e2e.stack import REDIS_URL, StackProcesses
from tests.support.postgres import PostgresServer
from tests.support.seaweed import SeaweedS3
from tests.support.tcp_proxy import TcpProxy

T = TypeVar("T")
SMALL = {"width": 64, "height": 64, "steps": 10}
HTTP_TIMEOUT_S = 30.0
FAILING = "a storm at sea [[fail:provider_error]]"


# --- helpers ----------------------------------------------------------------------------------


def wait_until(what: str, probe: Callable[[], T | None], timeout: float, every: float = 0.05) -> T:
    """Polls `probe` until it returns something truthy; fails with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except httpx.TransportError as e:
            last = e
        if last:
            return last  # type: ignore[no-any-return]
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:g}s (last: {last!r})")


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    """A 503 error envelope, code `unavailable`, with no stack trace leaking out."""
    assert response.status_code == 503, response.text
    assert "Traceback" not in response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "unavailable"
    assert error["message"]
    assert error["correlation_id"]
    return error


def _with_address(url: str, host: str, port: int) -> str:
    """`url` with its host:port replaced, credentials kept (a Redis URL through a proxy)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Stack:
    """A running stack, the proxies in front of its services and a few HTTP conveniences."""

    processes: StackProcesses
    s3: SeaweedS3
    postgres: TcpProxy | None = None
    redis: TcpProxy | None = None
    storage: TcpProxy | None = None
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.processes.url, timeout=HTTP_TIMEOUT_S)

    @property
    def url(self) -> str:
        return self.processes.url

    def post_job(self, params: dict[str, Any]) -> httpx.Response:
        return self.http.post("/v1/jobs", json={"params": params})

    def create(self, params: dict[str, Any]) -> str:
        response = self.post_job(params)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def events(self, job_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/v1/jobs/{job_id}/logs")
        assert response.status_code == 200, response.text
        return [json.loads(line) for line in response.text.splitlines()]

    def codes(self, job_id: str) -> list[str]:
        return [e["code"] for e in self.events(job_id)]

    def artifacts(self, job_id: str, ttl: int | None = None) -> list[dict[str, Any]]:
        params = {"ttl": ttl} if ttl else {}
        response = self.http.get(f"/v1/jobs/{job_id}/artifacts", params=params)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def finished(self, job_id: str, timeout: float) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            job = self.job(job_id)
            return job if job["state"] in ("succeeded", "failed") else None

        return wait_until(f"job {job_id} finished", done, timeout)

    def assert_complete(self, job_id: str, count: int) -> list[dict[str, Any]]:
        """Succeeded, with exactly one artifact per item and one stored object per artifact."""
        job = self.job(job_id)
        assert job["state"] == "succeeded", job
        artifacts = self.artifacts(job_id)
        assert sorted(a["item_index"] for a in artifacts) == list(range(count))
        bucket = self.processes.env["DREAMFORGE_S3_BUCKET"]
        stored = sorted(
            o.object_name
            for o in self.s3.client().list_objects(bucket, prefix="dreamforge/", recursive=True)
            if job_id in str(o.object_name)
        )
        assert stored == sorted(a["key"] for a in artifacts)  # no orphan, none missing
        return artifacts

    def ready(self) -> httpx.Response:
        return self.http.get("/ready")

    @contextmanager
    def queue(self) -> Iterator[DramatiqJobQueue]:
        """The stack's queue, read straight from Redis (not through the proxy)."""
        broker = make_broker(REDIS_URL, namespace=self.processes.env["DREAMFORGE_REDIS_NAMESPACE"])
        try:
            yield DramatiqJobQueue(broker)
        finally:
            close_broker(broker)

    def log(self) -> str:
        return self.processes.log.read_text(errors="replace")

    def api_alive(self) -> bool:
        return all(p.poll() is None for p in self.processes.apis)


@contextmanager
def running_stack(
    work_dir: Path,
    dsn: str,
    s3: SeaweedS3,
    *,
    postgres: bool = False,
    redis: bool = False,
    storage: bool = False,
    **env: str,
) -> Iterator[Stack]:
    """api + worker on `dsn`, the test Redis and `s3`, each reached through a proxy if asked."""
    proxies: list[TcpProxy] = []

    def proxy(host: str, port: int) -> TcpProxy:
        proxies.append(TcpProxy((host, port)).start())
        return proxies[-1]

    pg_proxy = redis_proxy = s3_proxy = None
    if postgres:
        info = conninfo_to_dict(dsn)
        host = str(info.get("host") or "127.0.0.1")
        if host.startswith("/"):
            pytest.skip("the test Postgres is reached through a unix socket; a proxy needs TCP")
        pg_proxy = proxy(host, int(info.get("port") or 5432))
        dsn = make_conninfo(dsn, host=pg_proxy.host, port=pg_proxy.port)
    if redis:
        parts = urlsplit(REDIS_URL)
        redis_proxy = proxy(parts.hostname or "127.0.0.1", parts.port or 6379)
        env["DREAMFORGE_REDIS_URL"] = _with_address(REDIS_URL, redis_proxy.host, redis_proxy.port)
    if storage:
        s3_proxy = proxy("127.0.0.1", s3.port)
        env["DREAMFORGE_S3_ENDPOINT"] = f"http://{s3_proxy.address}"
    settings = {
        "DREAMFORGE_RUNNER_TEST_HOOKS": "true",
        "DREAMFORGE_FAKE_STEP_DELAY_S": "0.03",
        "DREAMFORGE_LEASE_S": "3",
        "DREAMFORGE_WORKER_HEARTBEAT_TIMEOUT_S": "2",
        "DREAMFORGE_SWEEP_INTERVAL_S": "1",
        **env,
    }
    processes = StackProcesses(work_dir, dsn, s3, **settings)
    stack = Stack(processes, s3, pg_proxy, redis_proxy, s3_proxy)
    try:
        processes.start()
        yield stack
    finally:
        stack.http.close()
        for p in proxies:
            p.up()  # let the processes shut down cleanly
        processes.stop()
        for p in proxies:
            p.stop()


def first_artifact(stack: Stack, job_id: str) -> list[dict[str, Any]]:
    return wait_until(f"a first artifact of {job_id}", lambda: stack.artifacts(job_id), 30)


# --- 3. retries run out -----------------------------------------------------------------------


def test_a_job_failing_transiently_is_tried_max_attempts_times_then_dead_lettered(
    tmp_path: Path, postgres_dsn: str, seaweed_s3: SeaweedS3
) -> None:
    base, attempts = 0.4, 4
    with running_stack(
        tmp_path / "stack",
        postgres_dsn,
        seaweed_s3,
        DREAMFORGE_MAX_ATTEMPTS=str(attempts),
        DREAMFORGE_RETRY_BASE_DELAY_S=str(base),
    ) as stack:
        job_id = stack.create({"prompt": FAILING, "count": 2, **SMALL, "steps": 2})
        final = stack.finished(job_id, timeout=30)

        assert final["state"] == "failed", final
        assert final["attempts"] == attempts
        assert final["error"]["code"] == "provider_error"
        assert "injected failure" in final["error"]["message"]
        (step,) = final["steps"]
        assert step["attempts"] == attempts
        assert step["last_error"] == final["error"]
        assert stack.artifacts(job_id) == []

        events = stack.events(job_id)
        started = [e for e in events if e["code"] == "job_started"]
        retries = [e for e in events if e["code"] == "retry_scheduled"]
        assert [e["attempt"] for e in started] == list(range(1, attempts + 1))
        assert [e["attempt"] for e in retries] == list(range(1, attempts))
        assert all(e["error"]["code"] == "provider_error" for e in retries)
        # one generation per attempt: item 0 fails each time, item 1 is never reached
        assert [e["item_index"] for e in events if e["code"] == "item_started"] == [0] * attempts
        delays = [(ts(e["retry_at"]) - ts(e["ts"])).total_seconds() for e in retries]
        for n, delay in enumerate(delays, start=1):  # equal jitter: [ceiling/2, ceiling]
            ceiling = base * 2 ** (n - 1)
            assert ceiling / 2 - 0.01 <= delay <= ceiling + 0.01, (n, delays)
        assert delays == sorted(delays), delays  # each wait at least as long as the last
        for retry, attempt in zip(retries, started[1:], strict=True):
            assert ts(attempt["ts"]) >= ts(retry["retry_at"])  # never before its time
        assert [e["code"] for e in events][-2:] == ["job_failed", "end"]

        with stack.queue() as queue:
            dead = wait_until(
                "the job in the dead-letter queue",
                lambda: [d for d in queue.dead_letters() if d.job_id == job_id],
                10,
            )
            assert dead[0].reason.startswith("provider_error:")
            assert wait_until("one dead message", lambda: queue.depth()["dead_letter"] == 1, 10)

        time.sleep(2.5)  # two sweeps later it is still failed: nothing retries it again
        again = stack.job(job_id)
        assert (again["state"], again["attempts"]) == ("failed", attempts)
        assert stack.codes(job_id).count("job_started") == attempts


# --- 4a. Redis down ---------------------------------------------------------------------------


def test_redis_down_jobs_are_accepted_and_run_once_it_is_back(
    tmp_path: Path, postgres_dsn: str, seaweed_s3: SeaweedS3
) -> None:
    with running_stack(tmp_path / "stack", postgres_dsn, seaweed_s3, redis=True) as stack:
        assert stack.redis is not None
        running = stack.create({"prompt": "running", "count": 4, **SMALL})
        first_artifact(stack, running)

        stack.redis.down()
        error = assert_unavailable(stack.ready())
        checks = error["details"]["checks"]
        assert checks["redis"] != "ok"
        assert (checks["database"], checks["storage"]) == ("ok", "ok")
        assert "redis" in error["message"]
        # The job is durable in Postgres: accepted although it cannot be enqueued now.
        accepted = stack.post_job({"prompt": "accepted while redis is down", "count": 2, **SMALL})
        assert accepted.status_code == 202, accepted.text
        waiting = accepted.json()["id"]
        assert stack.job(waiting)["state"] == "queued"
        # The running job needs only Postgres and S3 to finish.
        assert stack.finished(running, timeout=20)["state"] == "succeeded"
        time.sleep(1.5)  # a few sweeps: the accepted job still cannot be delivered
        assert stack.job(waiting)["state"] == "queued"
        assert stack.ready().status_code == 503

        stack.redis.up()
        wait_until("/ready after Redis is back", lambda: stack.ready().status_code == 200, 20)
        assert stack.finished(waiting, timeout=30)["state"] == "succeeded"
        after = stack.create({"prompt": "after", "count": 1, **SMALL})
        assert stack.finished(after, timeout=20)["state"] == "succeeded"

        for job_id, count in ((running, 4), (waiting, 2), (after, 1)):
            stack.assert_complete(job_id, count)
        assert stack.api_alive()
        with stack.queue() as queue:
            assert queue.dead_letters() == []


# --- 4b. Postgres down ------------------------------------------------------------------------

# Longer than two pool timeouts (5 s each): the worker's progress save fails, and so does the
# save recording the retry, which is the worst case for the job in flight.
POSTGRES_OUTAGE_S = 13.0


@dataclass
class Timed:
    response: httpx.Response
    seconds: float


@dataclass
class PostgresOutage:
    """What the stack did around one Postgres outage (the scenario runs once per module)."""

    stack: Stack
    running: str
    count: int
    before: list[dict[str, Any]]
    during: dict[str, Timed]
    health_while_blocked: Timed
    api_pid: int
    healed_after_s: float
    created_after: str
    dead_letters: dict[str, str]  # job id -> reason
    dead_depth: int


def _timed(method: str, url: str, **kwargs: Any) -> Timed:
    began = time.monotonic()
    response = httpx.request(method, url, timeout=HTTP_TIMEOUT_S, **kwargs)
    return Timed(response, time.monotonic() - began)


@pytest.fixture(scope="module")
def postgres_outage(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer,
    postgres_template: str,
    seaweed_s3: SeaweedS3,
) -> Iterator[PostgresOutage]:
    name = postgres_server.create("dreamforge_faults", template=postgres_template)
    dsn = postgres_server.dsn_for(name)
    work_dir = tmp_path_factory.mktemp("pg-outage")
    try:
        with running_stack(work_dir, dsn, seaweed_s3, postgres=True) as stack:
            yield _postgres_outage(stack)
    finally:
        postgres_server.drop(name)


def _postgres_outage(stack: Stack) -> PostgresOutage:
    assert stack.postgres is not None
    count = 6
    running = stack.create({"prompt": "in flight", "count": count, **SMALL})
    before = first_artifact(stack, running)
    api_pid = stack.processes.apis[0].pid

    stack.postgres.down()
    down_at = time.monotonic()
    body = {"params": {"prompt": "while postgres is down", **SMALL}}
    calls = {
        "get": ("GET", f"{stack.url}/v1/jobs/{running}", {}),
        "post": ("POST", f"{stack.url}/v1/jobs", {"json": body}),
        "ready": ("GET", f"{stack.url}/ready", {}),
    }
    during: dict[str, Timed] = {}

    def call(key: str) -> None:
        method, url, kwargs = calls[key]
        during[key] = _timed(method, url, **kwargs)

    threads = [threading.Thread(target=call, args=(key,)) for key in calls]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # the API is now waiting on the database for those requests
    health = _timed("GET", f"{stack.url}/health")
    for thread in threads:
        thread.join(HTTP_TIMEOUT_S + 5)
    time.sleep(max(0.0, POSTGRES_OUTAGE_S - (time.monotonic() - down_at)))
    stack.postgres.up()
    up_at = time.monotonic()

    wait_until(
        "the API answering 200 after Postgres is back",
        lambda: stack.http.get(f"/v1/jobs/{running}").status_code == 200,
        30,
        every=0.2,
    )
    healed_after_s = time.monotonic() - up_at
    wait_until("/ready after Postgres is back", lambda: stack.ready().status_code == 200, 30)
    created_after = stack.create({"prompt": "after the outage", "count": 2, **SMALL})
    stack.finished(running, timeout=60)
    stack.finished(created_after, timeout=30)
    with stack.queue() as queue:
        dead = {d.job_id: d.reason for d in queue.dead_letters()}
        dead_depth = queue.depth()["dead_letter"]
    return PostgresOutage(
        stack,
        running,
        count,
        before,
        during,
        health,
        api_pid,
        healed_after_s,
        created_after,
        dead,
        dead_depth,
    )


def test_postgres_down_the_api_answers_503_envelopes(postgres_outage: PostgresOutage) -> None:
    during = postgres_outage.during
    assert set(during) == {"get", "post", "ready"}
    for timed in during.values():
        assert_unavailable(timed.response)
        # Answered while Postgres was still down (it comes back only after these answers):
        # each waits at most the pool timeout (5 s), in a thread, not on the event loop.
        assert timed.seconds < 20, timed.seconds
    ready = assert_unavailable(during["ready"].response)
    assert "database" in ready["message"]
    checks = ready["details"]["checks"]
    assert checks["database"] != "ok"
    assert (checks["redis"], checks["storage"]) == ("ok", "ok")


def test_postgres_back_the_same_api_process_heals_and_no_job_is_lost(
    postgres_outage: PostgresOutage,
) -> None:
    outage, stack = postgres_outage, postgres_outage.stack
    assert stack.api_alive()
    assert stack.processes.apis[0].pid == outage.api_pid
    assert outage.healed_after_s < 15
    assert stack.ready().json()["checks"] == {"database": "ok", "redis": "ok", "storage": "ok"}

    artifacts = stack.assert_complete(outage.running, outage.count)
    after = {a["item_index"]: a["id"] for a in artifacts}
    for artifact in outage.before:  # items finished before the outage were kept
        assert after[artifact["item_index"]] == artifact["id"]
    codes = stack.codes(outage.running)
    # The attempt was cut by the outage and resumed: by the retry rule when the failure could
    # be recorded, else by the sweeper once the lease of the silent attempt ran out.
    assert {"retry_scheduled", "job_requeued"} & set(codes), codes
    assert codes[-2:] == ["job_succeeded", "end"]
    stack.assert_complete(outage.created_after, 2)

    client = DreamForgeClient(stack.url)  # the live stream replays the whole history in order
    try:
        streamed = list(client.stream(outage.running))
    finally:
        client.close()
    assert [e.id for e in streamed] == list(range(1, len(codes) + 1))
    assert streamed[-1].event == "end"


def test_a_postgres_outage_does_not_dead_letter_a_job_that_then_succeeds(
    postgres_outage: PostgresOutage,
) -> None:
    assert postgres_outage.stack.job(postgres_outage.running)["state"] == "succeeded"
    assert postgres_outage.dead_letters == {}
    assert postgres_outage.dead_depth == 0


def test_health_answers_promptly_while_postgres_is_down(postgres_outage: PostgresOutage) -> None:
    health = postgres_outage.health_while_blocked
    assert health.response.status_code == 200
    assert health.seconds < 1.0, health.seconds


# --- 5. S3 down -------------------------------------------------------------------------------


def test_a_short_s3_outage_is_ridden_out_by_the_upload_retries(
    tmp_path: Path, postgres_dsn: str, seaweed_s3: SeaweedS3
) -> None:
    count = 6
    with running_stack(tmp_path / "stack", postgres_dsn, seaweed_s3, storage=True) as stack:
        assert stack.storage is not None
        job_id = stack.create({"prompt": "short outage", "count": count, **SMALL})
        first_artifact(stack, job_id)

        stack.storage.down()
        error = assert_unavailable(stack.ready())
        assert error["details"]["checks"]["storage"] != "ok"
        time.sleep(1.5)  # an upload meets the outage; 1.5 s < the adapter's 3.75 s minimum
        assert stack.job(job_id)["state"] == "running"
        stack.storage.up()

        final = stack.finished(job_id, timeout=30)
        assert final["state"] == "succeeded", final
        assert final["attempts"] == 1  # the job's own retry rule was never needed
        assert "retry_scheduled" not in stack.codes(job_id)
        stack.assert_complete(job_id, count)
        # the outage was met, and ridden out inside the adapter
        assert re.search(r"storing \S+ failed \(attempt 1 of 5\)", stack.log())


def test_an_s3_outage_longer_than_the_upload_retries_is_retried_by_the_job(
    tmp_path: Path, postgres_dsn: str, seaweed_s3: SeaweedS3
) -> None:
    count = 5
    with running_stack(
        tmp_path / "stack",
        postgres_dsn,
        seaweed_s3,
        storage=True,
        DREAMFORGE_MAX_ATTEMPTS="3",
        DREAMFORGE_RETRY_BASE_DELAY_S="1.0",
    ) as stack:
        assert stack.storage is not None
        job_id = stack.create({"prompt": "long outage", "count": count, **SMALL})
        before = first_artifact(stack, job_id)

        stack.storage.down()
        # S3 stays away until the adapter's 5 tries (3.75-7.5 s) are spent on one item and
        # the core has scheduled a retry of the job.
        retry = wait_until(
            "a retry scheduled for the storage failure",
            lambda: [e for e in stack.events(job_id) if e["code"] == "retry_scheduled"],
            30,
            every=0.1,
        )[0]
        stack.storage.up()
        assert retry["error"]["code"] == "storage_error"
        assert retry["attempt"] == 1
        assert re.search(r"storing \S+ failed \(attempt 4 of 5\)", stack.log())

        final = stack.finished(job_id, timeout=30)
        assert final["state"] == "succeeded", final
        assert final["attempts"] == 2
        assert final["steps"][0]["last_error"]["code"] == "storage_error"
        artifacts = stack.assert_complete(job_id, count)
        after = {a["item_index"]: a["id"] for a in artifacts}
        for artifact in before:  # finished items were not generated again
            assert after[artifact["item_index"]] == artifact["id"]
        events = stack.events(job_id)
        resumed = [e for e in events if e["code"] == "job_started"][1]
        done_before = {
            e["item_index"]
            for e in events
            if e["code"] == "item_succeeded" and e["seq"] < resumed["seq"]
        }
        started_after = [
            e["item_index"]
            for e in events
            if e["code"] == "item_started" and e["seq"] > resumed["seq"]
        ]
        # the retry resumed at the first unfinished item, and no item was finished twice
        assert started_after[0] == min(set(range(count)) - done_before)
        succeeded = [e["item_index"] for e in events if e["code"] == "item_succeeded"]
        assert sorted(succeeded) == list(range(count))


def test_api_artifact_urls_are_presigned_expire_and_need_their_signature(
    tmp_path: Path, postgres_dsn: str, seaweed_s3: SeaweedS3
) -> None:
    ttl = 2
    with running_stack(tmp_path / "stack", postgres_dsn, seaweed_s3) as stack:
        job_id = stack.create({"prompt": "urls", "count": 2, **SMALL, "steps": 2})
        assert stack.finished(job_id, timeout=30)["state"] == "succeeded"
        artifacts = stack.artifacts(job_id, ttl=ttl)
        assert len(artifacts) == 2
        for artifact in artifacts:
            url = artifact["url"]
            assert url.startswith(stack.processes.env["DREAMFORGE_S3_ENDPOINT"])
            assert "X-Amz-Signature=" in url
            query = parse_qs(urlsplit(url).query)
            assert query["X-Amz-Expires"] == [str(ttl)]
            within = httpx.get(url)
            assert within.status_code == 200
            assert hashlib.sha256(within.content).hexdigest() == artifact["sha256"]
            assert httpx.get(url.split("?")[0]).status_code == 403  # unsigned
        expires = max(ts(a["url_expires_at"]) for a in artifacts)
        signed_at = expires.timestamp() - ttl
        time.sleep(max(0.0, expires.timestamp() - time.time()) + 1.2)
        assert time.time() > signed_at + ttl
        for artifact in artifacts:
            expired = httpx.get(artifact["url"])
            assert expired.status_code == 403, expired.text
            assert "AccessDenied" in expired.text or "xpired" in expired.text
