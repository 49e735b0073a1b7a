"""The Postgres store under real concurrency and failure (DREAMFORGE_TEST_POSTGRES_DSN).

Two OS processes (spawned, as the stack's API replicas and workers are separate processes)
race on one idempotency key and on migrating one database; then the pool loses every
connection to `pg_terminate_backend`, and, through a TCP proxy standing in for the server,
Postgres goes away and comes back. Each test works in a database of its own, dropped after.
In CI (CI=true) a missing server fails the suite instead of skipping it.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from dreamforge_adapters.postgres import (
    MIGRATIONS,
    PostgresDatabase,
    PostgresEventBus,
    PostgresJobRepo,
    SchemaOutOfDate,
    check_schema,
    migrate,
)
from dreamforge_core.domain.events import Event
from dreamforge_core.domain.job import Job
from dreamforge_core.domain.params import GenerateParams
from dreamforge_core.errors import Unavailable
from tests.support.postgres import PostgresServer
from tests.support.tcp_proxy import TcpProxy

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
THREADS_PER_PROCESS = 10
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def admin(postgres_server: PostgresServer) -> psycopg.Connection[Any]:
    return postgres_server.admin


@pytest.fixture
def empty_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty (unmigrated) database."""
    name = postgres_server.create("dreamforge_it")
    yield postgres_server.dsn_for(name)
    postgres_server.drop(name)


@pytest.fixture
def dsn(postgres_dsn: str) -> str:
    return postgres_dsn


def make_job(key: str) -> Job:
    params = GenerateParams(prompt="a lighthouse at dusk", count=2)
    return Job.create(
        params=params, model_id="m", provider="p", now=T0, idempotency_key=key, fingerprint="fp"
    )


def hold_connections(db: PostgresDatabase, n: int) -> None:
    """Makes the pool open `n` connections now, so none is being made when a test starts."""
    with ExitStack() as stack:
        for _ in range(n):
            stack.enter_context(db.connection())


def run_processes(target: Callable[..., None], *args: Any) -> list[Any]:
    """Runs `target(barrier, results, *args)` in two spawned processes; returns their results."""
    barrier, results = SPAWN.Barrier(2), SPAWN.Queue()
    procs = [SPAWN.Process(target=target, args=(barrier, results, *args)) for _ in range(2)]
    for p in procs:
        p.start()
    found = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return found


# --- in the spawned processes -----------------------------------------------------------------


def create_with_one_key(barrier: Any, results: Any, dsn: str, key: str) -> None:
    with PostgresDatabase(dsn, max_size=THREADS_PER_PROCESS) as db:
        hold_connections(db, THREADS_PER_PROCESS)  # every connection made before the race
        repo = PostgresJobRepo(db)
        start = threading.Barrier(THREADS_PER_PROCESS)
        outcomes: list[tuple[str, bool]] = []

        def create() -> None:
            job = make_job(key)
            start.wait()
            result, created = repo.create(job, T0 - timedelta(hours=24))
            outcomes.append((result.id, created))

        barrier.wait()
        threads = [threading.Thread(target=create) for _ in range(THREADS_PER_PROCESS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results.put(outcomes)


def migrate_at_once(barrier: Any, results: Any, dsn: str) -> None:
    with PostgresDatabase(dsn, max_size=1) as db:
        db.ping()
        barrier.wait()
        results.put(migrate(db))


# --- tests ------------------------------------------------------------------------------------


def test_two_processes_creating_with_one_key_make_one_job(dsn: str) -> None:
    outcomes = [o for found in run_processes(create_with_one_key, dsn, "racy") for o in found]

    assert len(outcomes) == 2 * THREADS_PER_PROCESS
    assert sum(created for _, created in outcomes) == 1
    assert len({job_id for job_id, _ in outcomes}) == 1
    with PostgresDatabase(dsn, max_size=1) as db:
        repo = PostgresJobRepo(db)
        assert repo.count_by_state()["queued"] == 1
        assert [e.seq for e in repo.events(outcomes[0][0])] == [1]


def test_two_processes_migrating_at_once_apply_each_migration_once(empty_dsn: str) -> None:
    with PostgresDatabase(empty_dsn, max_size=1) as db, pytest.raises(SchemaOutOfDate):
        check_schema(db)  # what a service says at start-up before `dreamforge db migrate`

    applied = run_processes(migrate_at_once, empty_dsn)

    assert sorted(applied) == [[], [m.version for m in MIGRATIONS]]
    with PostgresDatabase(empty_dsn, max_size=1) as db:
        check_schema(db)
        with db.connection() as conn:
            rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version")
            assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]


def test_jobs_written_before_the_idempotency_scope_upgrade_stay_keyless(
    empty_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database at the previous schema (2) upgrades in place: its jobs have no checkpoint
    hash and the keyless scope, so a keyless server still replays their Idempotency-Keys."""
    from dreamforge_adapters.postgres import migrations

    old = make_job("before-upgrade")
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:2])
    monkeypatch.setattr(migrations, "LATEST", 2)
    with PostgresDatabase(empty_dsn, max_size=1) as db:
        migrate(db)
        with db.connection() as conn:
            conn.execute(
                "INSERT INTO jobs (id, type, provider, model_id, user_id, state, params, count, "
                "attempts, idempotency_key, fingerprint, created_at, updated_at, last_seq, "
                "version, schema_version) VALUES (%s, 'generate', 'p', 'm', 'default', "
                "'queued', %s::jsonb, 1, 0, %s, %s, %s, %s, 0, 1, 1)",
                (old.id, json.dumps(old.params.to_dict()), old.idempotency_key,
                 old.fingerprint, T0, T0),
            )  # fmt: skip
    monkeypatch.undo()

    with PostgresDatabase(empty_dsn, max_size=1) as db:
        assert migrate(db) == [m.version for m in MIGRATIONS[2:]]
        repo = PostgresJobRepo(db)
        got = repo.get(old.id)
        assert got is not None
        assert (got.checkpoint_hash, got.key_fingerprint) == (None, "")
        replay, created = repo.create(make_job("before-upgrade"), T0)
        assert (replay.id, created) == (old.id, False)
        scoped = make_job("before-upgrade")
        scoped.key_fingerprint = "b0" * 32
        assert repo.create(scoped, T0)[1]


def test_the_pool_recovers_when_all_its_connections_are_killed(
    dsn: str, admin: psycopg.Connection[Any]
) -> None:
    with PostgresDatabase(dsn, min_size=3, max_size=3) as db:
        hold_connections(db, 3)
        repo = PostgresJobRepo(db)
        repo.create(make_job("before"), T0)
        name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
        killed = admin.execute(  # waits up to 5 s for each backend to be gone
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
            "FROM pg_stat_activity WHERE datname = %s",
            (name,),
        ).fetchone()
        assert killed is not None
        assert killed[0] >= 3

        # The dead connections are noticed at checkout: not even one request fails.
        job, created = repo.create(make_job("after"), T0)
        assert created
        assert repo.get(job.id) == job
        repo.ping()


def test_a_closed_database_is_unavailable(dsn: str) -> None:
    db = PostgresDatabase(dsn, max_size=1)
    db.open(wait=True)
    repo = PostgresJobRepo(db)
    db.close()

    with pytest.raises(Unavailable):
        repo.get("any")
    with pytest.raises(Unavailable):
        repo.ping()


# --- Postgres going away and coming back ------------------------------------------------------


def eventually(call: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_store_is_unavailable_while_postgres_is_down_and_heals_after(dsn: str) -> None:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    proxy = TcpProxy((str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)))
    proxy.start()
    via_proxy = make_conninfo(dsn, host="127.0.0.1", port=proxy.port)
    got: list[Event] = []
    with PostgresDatabase(via_proxy, max_size=2, timeout=1.0, reconnect_timeout=2.0) as db:
        db.open(wait=True)
        repo = PostgresJobRepo(db)
        bus = PostgresEventBus(db, source=repo)
        job, _ = repo.create(make_job("k"), T0)
        bus.subscribe(job.id, got.append)
        assert bus.wait_until_listening(5.0)
        try:
            proxy.down()
            with pytest.raises(Unavailable):
                repo.get(job.id)
            with pytest.raises(Unavailable):
                repo.ping()

            proxy.up()
            assert eventually(lambda: repo.get(job.id)) == job
            assert bus.wait_until_listening(10.0)
            job.note("back", "the database is back", T0)
            bus.publish(repo.save(job))
            deadline = time.monotonic() + 5.0
            while not got and time.monotonic() < deadline:
                time.sleep(0.01)
            assert [e.code for e in got] == ["back"]
        finally:
            bus.close()
            proxy.stop()
