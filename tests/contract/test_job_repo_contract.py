"""The JobRepo contract, run against every implementation (see conftest.job_repo).

The SQLite-only tests at the end cover what a fake cannot have: durability across reopening,
two connections on one file, and a failed transaction.

It is one module because it is one contract: every case runs against every implementation,
and a rule split off would be easy to leave out for one of them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dreamforge_adapters.sqlite import SqliteDatabase, SqliteJobRepo
from dreamforge_adapters.sqlite.migrations import MIGRATIONS
from dreamforge_core.domain.artifact import Artifact
from dreamforge_core.domain.clock import iso, new_id
from dreamforge_core.domain.download import DownloadParams
from dreamforge_core.domain.events import EventKind
from dreamforge_core.domain.image_inputs import InputImage
from dreamforge_core.domain.job import MODEL_DOWNLOAD, ErrorInfo, ItemState, Job, JobState
from dreamforge_core.domain.params import GenerateParams
from dreamforge_core.domain.upscale import Upscale
from dreamforge_core.errors import ConcurrentUpdate, DreamForgeError, NotFound, Unavailable
from dreamforge_core.ports.job_repo import JobRepo

T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
WINDOW = timedelta(hours=24)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


CHECKPOINT = "c0" * 32
ALICE, BOB = "a1" * 32, "b0" * 32  # fingerprints of two API keys


def make_job(
    *,
    key: str | None = None,
    count: int = 1,
    seed: int | None = None,
    now: datetime = T0,
    key_fingerprint: str = ALICE,
    priority: int = 0,
) -> Job:
    params = GenerateParams(
        prompt="a lighthouse at dusk, 35mm", negative_prompt="blurry", seed=seed, width=832,
        height=1216, steps=28, guidance=5.5, scheduler="euler_a", format="jpg", count=count,
    )  # fmt: skip
    return Job.create(
        params=params, model_id="epicrealism-xl", provider="local-sdxl-epicrealism", now=now,
        idempotency_key=key, fingerprint=f"fp-{key}", user="alice",
        checkpoint_hash=CHECKPOINT, key_fingerprint=key_fingerprint, priority=priority,
    )  # fmt: skip


def artifact_for(job: Job, index: int, now: datetime, seed: int = 7) -> Artifact:
    return Artifact(
        id=new_id(), job_id=job.id, step=job.step.name, item_index=index,
        key=f"dreamforge/alice/jobs/{job.id}/generate/{index}.jpg", content_type="image/jpeg",
        format="jpg", width=832, height=1216, seed=seed, size_bytes=1234 + index,
        sha256="ab" * 32, created_at=now, checkpoint_hash=job.checkpoint_hash,
    )  # fmt: skip


def stored(repo: JobRepo, job: Job) -> Job:
    repo.create(job, job.created_at - WINDOW)
    return job


def fetch(repo: JobRepo, job_id: str) -> Job:
    job = repo.get(job_id)
    assert job is not None, f"job {job_id} is missing"
    return job


def run_item(repo: JobRepo, job: Job, index: int, start: float) -> Artifact:
    """Runs one item through every stage, saving after each transition like the worker."""
    job.start_item(index, 1000 + index, at(start))
    repo.save(job)
    job.advance_item(index, "denoise", 0.5, at(start + 0.1), step=14, total_steps=28)
    repo.save(job)
    artifact = artifact_for(job, index, at(start + 0.2), seed=1000 + index)
    job.finish_item(index, artifact, at(start + 0.2))
    repo.save(job)
    return artifact


# --- create and get ---------------------------------------------------------------------------


def test_create_stores_the_job_and_its_events(job_repo: JobRepo) -> None:
    job = make_job(key="k1", count=3, seed=42)  # seed with count > 1: a warning event too
    drafts = list(job.pending_events)

    result, created = job_repo.create(job, T0 - WINDOW)

    assert created
    assert result.id == job.id
    assert (job.version, job.last_seq, job.pending_events) == (1, 2, [])
    got = fetch(job_repo, job.id)
    assert got == result
    assert got.created_at == T0
    assert got.created_at.microsecond == 123456
    assert got.params == job.params
    assert [i.index for i in got.items] == [0, 1, 2]
    assert (got.user, got.idempotency_key, got.fingerprint) == ("alice", "k1", "fp-k1")
    events = job_repo.events(job.id)
    assert [e.seq for e in events] == [1, 2]
    assert [(e.kind, e.code, e.data, e.ts, e.level) for e in events] == [
        (d.kind, d.code, d.data, d.ts, d.level) for d in drafts
    ]


def test_a_saved_job_reads_back_equal_in_every_field(job_repo: JobRepo) -> None:
    job = stored(job_repo, make_job(count=2))
    job.start(at(1))
    job_repo.save(job)
    run_item(job_repo, job, 0, start=2)
    job.start_item(1, 5, at(3))
    job.advance_item(1, "denoise", 0.25, at(3.5), step=7, total_steps=28)
    job.note("vram", "peak 9.5 GiB", at(3.6), item_index=1, peak_gib=9.5, nested={"a": [1, 2]})
    job.schedule_retry(ErrorInfo("oom", "out of memory"), at(4), retry_at=at(10.000001))
    job_repo.save(job)

    got = fetch(job_repo, job.id)

    assert got == job
    assert got.next_attempt_at == at(10.000001)
    assert got.step.last_error == ErrorInfo("oom", "out of memory")
    assert [i.state for i in got.items] == [ItemState.SUCCEEDED, ItemState.PENDING]
    assert got.items[0].stages == {"prepare": 1.0, "denoise": 1.0, "encode": 1.0, "store": 1.0}
    note = next(e for e in job_repo.events(job.id) if e.code == "vram")
    assert note.data == {"peak_gib": 9.5, "nested": {"a": [1, 2]}}
    assert note.item_index == 1
    assert note.step_id == job.step.id


def test_a_job_with_inputs_and_an_upscale_step_reads_back_in_the_step_it_reached(
    job_repo: JobRepo,
) -> None:
    inputs = InputImage("ab" * 32, "artifact:0123/0", 640, 480)
    params = replace(
        make_job().generation, init_image=inputs, strength=0.5, upscale=Upscale(1.5, 0.4, 12)
    )
    job = stored(job_repo, Job.create(
        params=params, model_id="epicrealism-xl", provider="local-sdxl-epicrealism", now=T0,
        user="alice", key_fingerprint=ALICE,
    ))  # fmt: skip
    job.start(at(1))
    run_item(job_repo, job, 0, start=2)  # generate done: the upscale step is current
    job.start_item(0, 1000, at(3))
    job_repo.save(job)

    got = fetch(job_repo, job.id)
    assert got == job
    assert got.params == params
    assert [(s.name, s.state) for s in got.steps] == [
        ("generate", JobState.SUCCEEDED), ("upscale", JobState.RUNNING)
    ]  # fmt: skip
    assert got.step.name == "upscale"
    assert got.items[0].state is ItemState.RUNNING


def test_get_of_an_unknown_job_is_none(job_repo: JobRepo) -> None:
    assert job_repo.get("nope") is None


def test_an_id_with_a_nul_character_names_no_job(job_repo: JobRepo) -> None:
    job = stored(job_repo, make_job())
    assert job_repo.get(job.id + "\x00") is None


def test_a_returned_job_is_a_copy(job_repo: JobRepo) -> None:
    job = stored(job_repo, make_job())
    first = fetch(job_repo, job.id)
    first.start(at(1))
    assert fetch(job_repo, job.id).state is JobState.QUEUED


# --- idempotency ------------------------------------------------------------------------------


def test_same_key_within_the_window_returns_the_original(job_repo: JobRepo) -> None:
    original = stored(job_repo, make_job(key="same"))
    again = make_job(key="same", now=at(60))

    result, created = job_repo.create(again, at(60) - WINDOW)

    assert not created
    assert result.id == original.id
    assert result == job_repo.get(original.id)
    assert job_repo.get(again.id) is None
    assert job_repo.count_by_state()["queued"] == 1


def test_a_key_older_than_the_window_is_released(job_repo: JobRepo) -> None:
    old = stored(job_repo, make_job(key="reused"))
    later = at(WINDOW.total_seconds() + 1)
    new = make_job(key="reused", now=later)

    result, created = job_repo.create(new, later - WINDOW)

    assert created
    assert result.id == new.id
    assert fetch(job_repo, old.id).idempotency_key is None
    assert fetch(job_repo, new.id).idempotency_key == "reused"
    replay, created_again = job_repo.create(make_job(key="reused", now=later), later - WINDOW)
    assert not created_again
    assert replay.id == new.id


def test_an_idempotency_key_is_scoped_to_the_api_key(job_repo: JobRepo) -> None:
    alices = stored(job_repo, make_job(key="shared", key_fingerprint=ALICE))

    bobs, created = job_repo.create(
        make_job(key="shared", key_fingerprint=BOB, now=at(1)), at(1) - WINDOW
    )

    assert created
    assert bobs.id != alices.id
    for fingerprint, own in ((ALICE, alices), (BOB, bobs)):
        replay, again = job_repo.create(
            make_job(key="shared", key_fingerprint=fingerprint, now=at(2)), at(2) - WINDOW
        )
        assert not again
        assert replay.id == own.id
        assert replay.key_fingerprint == fingerprint
    # without API keys every request shares one scope, the empty fingerprint
    keyless = stored(job_repo, make_job(key="shared", key_fingerprint=""))
    assert keyless.id not in (alices.id, bobs.id)
    assert fetch(job_repo, keyless.id).key_fingerprint == ""
    assert job_repo.count_by_state()["queued"] == 3


def test_concurrent_creates_with_one_key_create_one_job(job_repo: JobRepo) -> None:
    barrier = threading.Barrier(20)
    outcomes: list[tuple[str, bool]] = []

    def create() -> None:
        job = make_job(key="racy")
        barrier.wait()
        result, created = job_repo.create(job, T0 - WINDOW)
        outcomes.append((result.id, created))

    threads = [threading.Thread(target=create) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sum(created for _, created in outcomes) == 1
    assert len({job_id for job_id, _ in outcomes}) == 1
    assert job_repo.count_by_state()["queued"] == 1


# --- save -------------------------------------------------------------------------------------


def test_saves_bump_the_version_and_number_events_consecutively(job_repo: JobRepo) -> None:
    job = stored(job_repo, make_job(count=2))
    other = stored(job_repo, make_job())  # another job's events keep their own numbering
    job.start(at(1))

    started = job_repo.save(job)
    run_item(job_repo, job, 0, start=2)
    run_item(job_repo, job, 1, start=3)
    job.succeed(at(4))
    finished = job_repo.save(job)

    assert [e.seq for e in started] == [2]
    assert [e.kind for e in finished] == [EventKind.STATE, EventKind.END]
    assert job.version == 9
    events = job_repo.events(job.id)
    assert [e.seq for e in events] == list(range(1, job.last_seq + 1))
    assert events[-2:] == finished
    assert fetch(job_repo, job.id).version == 9
    assert [e.seq for e in job_repo.events(other.id)] == [1]


def test_a_stale_save_is_refused_and_stores_nothing(job_repo: JobRepo) -> None:
    job = stored(job_repo, make_job())
    winner, loser = fetch(job_repo, job.id), fetch(job_repo, job.id)
    winner.start(at(1))
    job_repo.save(winner)
    loser.start(at(2))

    with pytest.raises(ConcurrentUpdate):
        job_repo.save(loser)

    assert (loser.version, loser.last_seq, len(loser.pending_events)) == (1, 1, 1)
    assert job_repo.get(job.id) == winner
    assert [e.ts for e in job_repo.events(job.id)] == [T0, at(1)]


def test_saving_a_job_never_created_raises_not_found(job_repo: JobRepo) -> None:
    with pytest.raises(NotFound):
        job_repo.save(make_job())


def test_save_stores_artifacts_one_per_item(job_repo: JobRepo) -> None:
    job = stored(job_repo, make_job(count=3))
    job.start(at(1))
    job_repo.save(job)
    third = run_item(job_repo, job, 2, start=2)
    first = run_item(job_repo, job, 0, start=3)
    replacement = artifact_for(job, 0, at(4), seed=99)
    job.new_artifacts.append(replacement)  # a row for the same item replaces the earlier one
    job_repo.save(job)

    assert first != replacement
    assert job_repo.artifacts(job.id) == [replacement, third]
    assert job.new_artifacts == []
    assert job_repo.artifacts("unknown") == []


def test_the_checkpoint_hash_of_job_and_artifacts_round_trips(job_repo: JobRepo) -> None:
    job = stored(job_repo, make_job(count=2))
    assert fetch(job_repo, job.id).checkpoint_hash == CHECKPOINT
    job.start(at(1))
    job.record_checkpoint("d1" * 32)  # the attempt loaded other weights than at creation
    job_repo.save(job)
    first = run_item(job_repo, job, 0, start=2)
    unknown = replace(artifact_for(job, 1, at(3)), checkpoint_hash=None)
    job.start_item(1, 5, at(3))
    job.finish_item(1, unknown, at(3))
    job_repo.save(job)

    got = fetch(job_repo, job.id)
    assert got.checkpoint_hash == "d1" * 32
    assert got == job
    assert [a.checkpoint_hash for a in job_repo.artifacts(job.id)] == ["d1" * 32, None]
    assert job_repo.artifacts(job.id) == [first, unknown]


# --- reading events ---------------------------------------------------------------------------


@pytest.fixture
def job_with_events(job_repo: JobRepo) -> Job:
    """Seq 1 at T0, then one event per second: seqs 2..5 at at(1)..at(4)."""
    job = stored(job_repo, make_job())
    job.start(at(1))
    job_repo.save(job)
    for i in range(2, 5):
        job.note("tick", f"tick {i}", at(i), n=i)
        job_repo.save(job)
    return job


def test_events_after_seq_since_and_limit(job_repo: JobRepo, job_with_events: Job) -> None:
    job_id = job_with_events.id

    def seqs(
        after_seq: int = 0, since: datetime | None = None, limit: int | None = None
    ) -> list[int]:
        found = job_repo.events(job_id, after_seq=after_seq, since=since, limit=limit)
        return [e.seq for e in found]

    assert seqs() == [1, 2, 3, 4, 5]
    assert seqs(after_seq=3) == [4, 5]
    assert seqs(after_seq=5) == []
    assert seqs(since=at(2)) == [3, 4, 5]
    assert seqs(since=at(2) + timedelta(microseconds=1)) == [4, 5]
    assert seqs(limit=2) == [1, 2]
    assert seqs(limit=0) == []
    assert seqs(after_seq=1, since=at(3), limit=1) == [4]
    assert job_repo.events("unknown") == []


def test_last_events_are_the_tail_oldest_first(job_repo: JobRepo, job_with_events: Job) -> None:
    job_id = job_with_events.id

    def seqs(n: int, since: datetime | None = None) -> list[int]:
        return [e.seq for e in job_repo.last_events(job_id, n, since=since)]

    assert seqs(2) == [4, 5]
    assert seqs(5) == [1, 2, 3, 4, 5]
    assert seqs(0) == []
    assert seqs(10, since=at(3)) == [4, 5]
    assert seqs(1, since=at(3)) == [5]


def test_last_events_with_n_beyond_the_count_returns_all(
    job_repo: JobRepo, job_with_events: Job, request: pytest.FixtureRequest
) -> None:
    for n in (100, 7, 2**70):  # past any database integer too: a client chooses n
        assert [e.seq for e in job_repo.last_events(job_with_events.id, n)] == [1, 2, 3, 4, 5]


def test_events_after_a_sequence_past_any_database_integer_are_none(
    job_repo: JobRepo, job_with_events: Job
) -> None:
    assert job_repo.events(job_with_events.id, after_seq=2**70) == []
    assert len(job_repo.events(job_with_events.id, limit=2**70)) == 5


# --- listing ----------------------------------------------------------------------------------


def test_job_ids_in_and_count_by_state(job_repo: JobRepo) -> None:
    assert job_repo.count_by_state() == {
        "queued": 0, "running": 0, "succeeded": 0, "failed": 0, "canceled": 0
    }  # fmt: skip
    jobs = [stored(job_repo, make_job()) for _ in range(5)]
    jobs[0].start(at(1))
    job_repo.save(jobs[0])
    jobs[1].start(at(1))
    jobs[1].fail(ErrorInfo("invalid_input", "bad"), at(1))
    job_repo.save(jobs[1])
    jobs[4].cancel(at(1))
    job_repo.save(jobs[4])

    queued = sorted(j.id for j in jobs[2:4])
    assert job_repo.job_ids_in([JobState.QUEUED]) == queued  # never the canceled one
    assert job_repo.job_ids_in([JobState.RUNNING, JobState.QUEUED]) == sorted([jobs[0].id, *queued])
    assert job_repo.job_ids_in([JobState.SUCCEEDED]) == []
    assert job_repo.job_ids_in([]) == []
    assert job_repo.count_by_state() == {
        "queued": 2, "running": 1, "succeeded": 0, "failed": 1, "canceled": 1
    }  # fmt: skip
    assert fetch(job_repo, jobs[4].id).state is JobState.CANCELED


def test_count_active_counts_one_callers_queued_and_running_jobs_up_to_a_bound(
    job_repo: JobRepo,
) -> None:
    alices = [stored(job_repo, make_job(key_fingerprint=ALICE)) for _ in range(4)]
    stored(job_repo, make_job(key_fingerprint=BOB))
    alices[0].start(at(1))
    job_repo.save(alices[0])  # running: active
    alices[1].cancel(at(1))
    job_repo.save(alices[1])  # canceled: not active

    assert job_repo.count_active(ALICE, 10) == 3
    assert job_repo.count_active(ALICE, 2) == 2  # no further than the bound
    assert job_repo.count_active(BOB, 10) == 1
    assert job_repo.count_active("", 10) == 0


def test_the_next_queued_job_is_the_highest_priority_then_the_oldest_that_is_due(
    job_repo: JobRepo,
) -> None:
    assert job_repo.next_queued("generate", at(100)) is None
    low = stored(job_repo, make_job(now=at(1), priority=-1))
    normal_old = stored(job_repo, make_job(now=at(2)))
    normal_new = stored(job_repo, make_job(now=at(3)))
    high = stored(job_repo, make_job(now=at(4), priority=1))
    assert fetch(job_repo, high.id).priority == 1

    order = [high, normal_old, normal_new, low]
    assert [job_repo.jobs_ahead(fetch(job_repo, j.id)) for j in order] == [0, 1, 2, 3]
    assert job_repo.next_queued("generate", at(100)) == high.id
    assert job_repo.next_queued("model_download", at(100)) is None

    # The high job runs and fails; while it waits for its retry time, the others go first.
    high.start(at(5))
    job_repo.save(high)
    assert job_repo.next_queued("generate", at(100)) == normal_old.id
    high.schedule_retry(ErrorInfo("provider_error", "x"), at(6), retry_at=at(60))
    job_repo.save(high)
    assert job_repo.next_queued("generate", at(30)) == normal_old.id
    assert job_repo.next_queued("generate", at(60)) == high.id  # its time has come
    assert job_repo.jobs_ahead(fetch(job_repo, low.id)) == 3


def test_ping_answers_when_the_store_is_up(job_repo: JobRepo) -> None:
    job_repo.ping()  # raises Unavailable when the store is down


# --- SQLite only ------------------------------------------------------------------------------


def test_sqlite_data_survives_reopening_the_file(sqlite_path: Path) -> None:
    with SqliteDatabase(sqlite_path) as database:
        repo = SqliteJobRepo(database)
        job = stored(repo, make_job(key="durable", count=2))
        job.start(at(1))
        repo.save(job)
        artifact = run_item(repo, job, 0, start=2)
        events = repo.events(job.id)

    with SqliteDatabase(sqlite_path) as reopened:
        repo = SqliteJobRepo(reopened)
        assert repo.get(job.id) == job
        assert repo.events(job.id) == events
        assert repo.artifacts(job.id) == [artifact]
        assert reopened.schema_version == MIGRATIONS[-1].version
        with reopened.read() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(
                MIGRATIONS
            )


def test_sqlite_jobs_written_before_the_idempotency_scope_upgrade_stay_keyless(
    sqlite_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file written by the previous schema (2) upgrades in place: its jobs have no checkpoint
    hash and the keyless scope, so a keyless server still replays their Idempotency-Keys."""
    from dreamforge_adapters.sqlite import database as sqlite_database_module

    old = make_job(key="before-upgrade", key_fingerprint="")
    monkeypatch.setattr(sqlite_database_module, "MIGRATIONS", MIGRATIONS[:2])
    with SqliteDatabase(sqlite_path) as database, database.write() as conn:
        conn.execute(
            "INSERT INTO jobs (id, type, provider, model_id, user_id, state, params, count, "
            "attempts, idempotency_key, fingerprint, created_at, updated_at, last_seq, version, "
            "schema_version) VALUES (?, 'generate', ?, ?, 'alice', 'queued', ?, 1, 0, ?, ?, ?, "
            "?, 0, 1, 1)",
            (
                old.id, old.provider, old.model_id, json.dumps(old.params.to_dict()),
                old.idempotency_key, old.fingerprint, iso(old.created_at),
                iso(old.created_at),
            ),
        )  # fmt: skip
    monkeypatch.undo()

    with SqliteDatabase(sqlite_path) as upgraded:
        repo = SqliteJobRepo(upgraded)
        got = fetch(repo, old.id)
        assert (got.checkpoint_hash, got.key_fingerprint) == (None, "")
        replay, created = repo.create(make_job(key="before-upgrade", key_fingerprint=""), T0)
        assert (replay.id, created) == (old.id, False)
        _, created = repo.create(make_job(key="before-upgrade", key_fingerprint=BOB), T0)
        assert created


def test_sqlite_repo_given_a_path_owns_its_database(sqlite_path: Path) -> None:
    repo = SqliteJobRepo(sqlite_path)
    job = stored(repo, make_job())
    repo.close()
    with pytest.raises(Unavailable):
        repo.get(job.id)
    with SqliteDatabase(sqlite_path) as reopened:
        assert SqliteJobRepo(reopened).get(job.id) == job


def test_sqlite_one_key_from_two_connections_creates_one_job(sqlite_path: Path) -> None:
    with SqliteDatabase(sqlite_path) as first, SqliteDatabase(sqlite_path) as second:
        repos = [SqliteJobRepo(first), SqliteJobRepo(second)]
        barrier = threading.Barrier(10)
        created: list[bool] = []

        def create(repo: SqliteJobRepo) -> None:
            job = make_job(key="two-connections")
            barrier.wait()
            created.append(repo.create(job, T0 - WINDOW)[1])

        threads = [threading.Thread(target=create, args=(repos[i % 2],)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert created.count(True) == 1
        assert repos[0].count_by_state() == repos[1].count_by_state()
        assert repos[1].count_by_state()["queued"] == 1


def test_sqlite_failed_save_leaves_the_job_untouched(sqlite_database: SqliteDatabase) -> None:
    repo = SqliteJobRepo(sqlite_database)
    job = stored(repo, make_job())
    job.start(at(1))
    job.new_artifacts.append(replace(artifact_for(job, 0, at(1)), job_id="missing"))

    with pytest.raises(DreamForgeError):  # the artifact's job does not exist
        repo.save(job)

    assert (job.version, job.last_seq, len(job.pending_events), len(job.new_artifacts)) == (
        1, 1, 1, 1,
    )  # fmt: skip
    assert fetch(repo, job.id).state is JobState.QUEUED
    job.new_artifacts.clear()
    assert [e.seq for e in repo.save(job)] == [2]


def test_sqlite_locked_or_closed_database_is_unavailable(sqlite_path: Path) -> None:
    database = SqliteDatabase(sqlite_path, busy_timeout_ms=50)
    repo = SqliteJobRepo(database)
    job = stored(repo, make_job())
    job.start(at(1))
    blocker = sqlite3.connect(sqlite_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Unavailable):
            repo.save(job)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    database.close()

    with pytest.raises(Unavailable):
        repo.save(job)
    with pytest.raises(Unavailable):
        repo.ping()
    assert (job.version, job.last_seq, len(job.pending_events)) == (1, 1, 1)


# --- model_download jobs ----------------------------------------------------------------------


def test_a_download_job_round_trips_and_keeps_the_model_it_installed(job_repo: JobRepo) -> None:
    job = Job.create(
        params=DownloadParams("hf:acme/tiny@main"), model_id="", provider="hf", now=T0,
        job_type=MODEL_DOWNLOAD,
    )  # fmt: skip
    stored(job_repo, job)
    loaded = fetch(job_repo, job.id)
    assert (loaded.type, loaded.params, loaded.model_id) == (MODEL_DOWNLOAD, job.params, "")
    assert loaded.step.name == "download"
    loaded.start(at(1))
    loaded.start_item(0, None, at(1))
    loaded.advance_item(0, "fetch", 0.5, at(2), bytes_done=5, total_bytes=10)
    job_repo.save(loaded)
    loaded.finish_download("tiny@abc", at(3))
    loaded.succeed(at(3))
    job_repo.save(loaded)
    final = fetch(job_repo, job.id)
    assert (final.state, final.model_id, final.progress) == (JobState.SUCCEEDED, "tiny@abc", 1.0)
    assert final.items[0].seed is None


def test_the_queue_front_lists_due_jobs_in_start_order_with_their_models(
    job_repo: JobRepo,
) -> None:
    assert job_repo.queued_front("generate", at(100), 10) == []
    low = stored(job_repo, make_job(now=at(1), priority=-1))
    normal = stored(job_repo, make_job(now=at(2)))
    high = stored(job_repo, make_job(now=at(3), priority=1))
    waiting = stored(job_repo, make_job(now=at(4)))
    waiting.start(at(5))
    job_repo.save(waiting)
    waiting.schedule_retry(ErrorInfo("provider_error", "x"), at(6), retry_at=at(60))
    job_repo.save(waiting)

    front = job_repo.queued_front("generate", at(30), 10)
    assert [t.job_id for t in front] == [high.id, normal.id, low.id]  # the retry is not due
    assert [t.priority for t in front] == [1, 0, -1]
    assert front[1].model_id == normal.model_id
    assert front[1].created_at == at(2)
    two = job_repo.queued_front("generate", at(30), 2)
    assert [t.job_id for t in two] == [high.id, normal.id]
    later = job_repo.queued_front("generate", at(60), 10)
    assert [t.job_id for t in later] == [high.id, normal.id, waiting.id, low.id]
    assert later[2].next_attempt_at == at(60)
    assert job_repo.queued_front("model_download", at(100), 10) == []
