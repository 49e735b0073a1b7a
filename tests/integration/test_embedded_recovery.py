"""The embedded server recovers, while it runs, a job whose worker gave up on a store that was
down: nothing stays `running` until the next restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dreamforge_adapters.sqlite import SqliteJobRepo
from dreamforge_apps.bootstrap.embedded import Embedded
from dreamforge_apps.bootstrap.lifecycle import start, stop
from dreamforge_apps.models import FAKE_MODEL_ID
from dreamforge_apps.settings import Settings
from dreamforge_core.domain.clock import utc_now
from dreamforge_core.domain.events import Event
from dreamforge_core.domain.job import Job, JobState
from dreamforge_core.domain.params import GenerateParams
from dreamforge_core.errors import Unavailable


def _until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"never saw: {what}"
        time.sleep(0.01)


def test_a_running_job_whose_write_failed_is_recovered_by_the_running_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_down = threading.Event()
    real_save = SqliteJobRepo.save

    def save(self: SqliteJobRepo, job: Job) -> list[Event]:
        if store_down.is_set():
            raise Unavailable("database unavailable: disk I/O error (injected)")
        return real_save(self, job)

    monkeypatch.setattr(SqliteJobRepo, "save", save)
    settings = Settings(
        data_dir=tmp_path,
        runner="fake",
        fake_step_delay_s=0.01,
        progress_interval_s=0,
        lease_s=0.5,
        sweep_interval_s=0.1,
    )
    deployment = Embedded(settings=settings)
    repo = deployment.ports.repo()  # opens the database (and locks the directory) only
    params = GenerateParams(prompt="p", count=4, width=64, height=64, steps=5)
    now = utc_now()
    job, _ = repo.create(
        Job.create(params=params, model_id=FAKE_MODEL_ID, provider="fake", now=now), now
    )
    try:
        start(deployment)  # the worker too: start-up recovery, threads, sweeper
        _until(lambda: len(repo.artifacts(job.id)) >= 1, "the first image stored")
        store_down.set()
        _until(lambda: deployment.ports.queue().depth()["running"] == 0, "the worker giving up")
        stuck = repo.get(job.id)
        assert stuck is not None
        assert stuck.state is JobState.RUNNING
        store_down.clear()

        def finished() -> bool:
            current = repo.get(job.id)
            return current is not None and current.state.terminal

        _until(finished, "the job finished")
        final = repo.get(job.id)
        assert final is not None
        assert final.state is JobState.SUCCEEDED, final
        assert sorted(a.item_index for a in repo.artifacts(job.id)) == [0, 1, 2, 3]
        assert "job_requeued" in [e.code for e in repo.events(job.id)]
    finally:
        stop(deployment)
