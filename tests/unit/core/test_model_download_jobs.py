"""Background model downloads (FR-098): `model_download` jobs on the IO queue, run by
`RunDownloadJob` with the shared job lifecycle.

It is one module because its cases share the download harness: a fake source, a registry and
the IO queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dreamforge_adapters.inprocess import InProcessEventBus
from dreamforge_adapters.memory import (
    ManualClock,
    MemoryJobRepo,
    MemoryModelRegistry,
    RecordingLogContext,
)
from dreamforge_adapters.system import NoMetrics, SystemThreads
from dreamforge_core.domain.caller import KEYLESS, Caller
from dreamforge_core.domain.job import MODEL_DOWNLOAD, ErrorInfo, ItemState, Job, JobState
from dreamforge_core.domain.model_ref import parse_model_ref
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.errors import (
    Forbidden,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
    Unavailable,
)
from dreamforge_core.ports.model_source import FetchedFile, ResolvedModel, SourceFile
from dreamforge_core.use_cases import run_download_job
from dreamforge_core.use_cases.create_job import CreateJob, CreateJobCommand, DownloadJobs
from dreamforge_core.use_cases.install_model import InstallResult
from dreamforge_core.use_cases.recover_jobs import RecoverJobs
from dreamforge_core.use_cases.run_download_job import (
    DownloadJobPorts,
    DownloadWatch,
    RunDownloadJob,
)
from dreamforge_core.use_cases.running_job import JobLimits

from .conftest import T0, RecordingQueue, make_model

REF = "hf:acme/tiny-sdxl@main"
FILES = (
    SourceFile("unet/model.safetensors", "http://x/a", 600),
    SourceFile("a.json", "http://x/b", 400),
)


@dataclass
class ScriptedInstaller:
    """Reports a resolved model and its bytes, registers it, or raises what it is told to."""

    registry: MemoryModelRegistry
    failures: list[BaseException] = field(default_factory=list)
    during: Callable[[], None] | None = None
    refs: list[str] = field(default_factory=list)

    def __call__(self, ref: str, watch: DownloadWatch) -> InstallResult:
        self.refs.append(ref)
        resolved = ResolvedModel(
            parse_model_ref(ref), "tiny-sdxl", "abc123", "sdxl-diffusers", FILES, f"{ref}@abc123"
        )
        watch.resolved(resolved)
        watch("unet/model.safetensors", 300, 600)
        if self.during is not None:
            self.during()
        if self.failures:
            raise self.failures.pop(0)
        watch("unet/model.safetensors", 600, 600)
        watch("a.json", 400, 400)
        model = make_model(id="tiny-sdxl", name="tiny-sdxl", kind="sdxl-diffusers")
        self.registry.upsert(model)
        fetched = [
            FetchedFile(f.name, Path(f.name), f.size or 0, "0" * 64, False, 0, f.size or 0)
            for f in FILES
        ]
        return InstallResult(model, resolved, fetched, 0.5)


@dataclass
class DownloadHarness:
    repo: MemoryJobRepo
    gpu: RecordingQueue
    io: RecordingQueue
    registry: MemoryModelRegistry
    installer: ScriptedInstaller
    create_job: CreateJob
    execute: RunDownloadJob
    clock: ManualClock
    retry: RetryPolicy

    def create(self, body: Any, key: str | None = None) -> Job:
        return self.create_job(CreateJobCommand(body=body, idempotency_key=key)).job

    def job(self, job_id: str) -> Job:
        job = self.repo.get(job_id)
        assert job is not None
        return job

    def codes(self, job_id: str) -> list[str]:
        return [e.code for e in self.repo.events(job_id)]


def build(
    *,
    downloads: bool = True,
    timeout_s: float = 60.0,
    discarded: list[ResolvedModel] | None = None,
) -> DownloadHarness:
    repo = MemoryJobRepo()
    registry = MemoryModelRegistry([make_model()])
    clock = ManualClock(T0)
    retry = RetryPolicy(max_attempts=2, base_delay_s=0.0, max_delay_s=0.0)
    installer = ScriptedInstaller(registry)
    holder: list[RunDownloadJob] = []
    gpu = RecordingQueue(lambda job_id: None)
    io = RecordingQueue(lambda job_id: holder[0](job_id))
    execute = RunDownloadJob(
        DownloadJobPorts(
            repo=repo,
            queue=io,
            bus=InProcessEventBus(),
            clock=clock,
            metrics=NoMetrics(),
            log_context=RecordingLogContext(),
            install=installer,
            threads=SystemThreads(),
            discard_partial=discarded.append if discarded is not None else None,
        ),
        retry,
        JobLimits(step_timeout_s=timeout_s),
    )
    holder.append(execute)
    create = CreateJob(
        repo,
        gpu,
        registry,
        clock,
        default_model_id="epicrealism-xl",
        idempotency_window_s=3600,
        downloads=DownloadJobs(io, {"hf", "civitai"}) if downloads else None,
    )
    return DownloadHarness(repo, gpu, io, registry, installer, create, execute, clock, retry)


@pytest.fixture(autouse=True)
def _every_progress_report_is_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_download_job, "DOWNLOAD_PROGRESS_INTERVAL_S", 0.0)


def download(ref: str = REF) -> dict[str, Any]:
    return {"type": "model_download", "params": {"ref": ref}}


def fields_of(error: InvalidInput) -> list[str]:
    return sorted(e["field"] for e in error.details["errors"])


def test_a_download_job_goes_to_the_io_queue_never_the_gpu_queue() -> None:
    h = build()
    job = h.create(download())
    assert [j for j, _ in h.io.enqueued] == [job.id]
    assert h.gpu.enqueued == []
    assert job.type == MODEL_DOWNLOAD
    assert (job.provider, job.model_id, job.count) == ("hf", "", 1)
    assert job.params.to_dict() == {"ref": REF}
    assert job.step.name == "download"
    assert h.create({"params": {"prompt": "a cat"}}).id in [j for j, _ in h.gpu.enqueued]


@pytest.mark.parametrize(
    "body", [download(), download("ftp:not-even-valid"), {"type": "model_download"}]
)
def test_only_an_admin_caller_may_create_a_download_job(body: dict[str, Any]) -> None:
    h = build()
    user = Caller.with_key("user-key", admin=False)
    with pytest.raises(Forbidden, match="admin"):
        h.create_job(CreateJobCommand(body=body, idempotency_key="k", caller=user))
    assert sum(h.repo.count_by_state().values()) == 0  # nothing stored
    assert h.io.enqueued == []
    # a generate job is open to every caller; a download to an admin, or with no keys at all
    h.create_job(CreateJobCommand(body={"params": {"prompt": "a cat"}}, caller=user))
    boss = Caller.with_key("boss-key", admin=True)
    for caller in (boss, KEYLESS):
        assert (
            h.create_job(CreateJobCommand(body=download(), caller=caller)).job.type
            == MODEL_DOWNLOAD
        )


def test_a_download_installs_the_model_and_the_job_names_it() -> None:
    h = build()
    job_id = h.create(download()).id
    h.io.run_due()
    job = h.job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert job.model_id == "tiny-sdxl"
    assert job.progress == 1.0
    assert job.items[0].state is ItemState.SUCCEEDED
    assert h.installer.refs == [REF]
    assert h.registry.get("tiny-sdxl") is not None
    codes = h.codes(job_id)
    assert codes[:2] == ["job_created", "job_started"]
    assert codes[-3:] == ["model_installed", "job_succeeded", "end"]
    events = h.repo.events(job_id)
    stages = [e.data.get("stage") for e in events if e.code == "item_progress"]
    assert (stages[0], stages[-1]) == ("resolve", "register")
    assert "fetch" in stages
    fetched = [e.data["progress"] for e in events if e.data.get("stage") == "fetch"]
    assert fetched == sorted(fetched)
    assert 0 < fetched[0] < fetched[-1] <= 1.0
    installed = next(e for e in events if e.code == "model_installed")
    assert installed.data["model_id"] == "tiny-sdxl"
    assert installed.data["fetched_bytes"] == 1000


def test_an_unreachable_source_is_retried_and_the_retry_finishes_the_download() -> None:
    h = build()
    h.installer.failures.append(Unavailable("hub is down"))
    job_id = h.create(download()).id
    h.io.run_due()  # runs the retry too: it is due at once
    assert h.codes(job_id).count("retry_scheduled") == 1
    job = h.job(job_id)
    assert (job.state, job.attempts, job.model_id) == (JobState.SUCCEEDED, 2, "tiny-sdxl")
    assert h.gpu.enqueued == []  # retries stay on the IO queue


@pytest.mark.parametrize(
    ("error", "code"),
    [(NotFound("no such repo"), "not_found"), (InvalidInput("pickle refused"), "invalid_input")],
)
def test_a_permanent_source_error_fails_at_once_and_registers_nothing(
    error: Exception, code: str
) -> None:
    h = build()
    h.installer.failures.append(error)
    job_id = h.create(download()).id
    h.io.run_due()
    job = h.job(job_id)
    assert job.state is JobState.FAILED
    assert job.error == ErrorInfo(code, str(error))
    assert (job.attempts, job.model_id) == (1, "")
    assert h.registry.get("tiny-sdxl") is None


def test_a_download_past_its_timeout_stops_with_timeout() -> None:
    h = build(timeout_s=0.05)
    h.installer.during = lambda: time.sleep(0.1)
    job_id = h.create(download()).id
    h.io.run_due()
    job = h.job(job_id)
    assert job.step.last_error is not None
    assert job.step.last_error.code == "timeout"
    assert h.registry.get("tiny-sdxl") is None


def test_a_delivered_generate_job_is_not_run_by_the_download_executor() -> None:
    h = build()
    job_id = h.create({"params": {"prompt": "a cat"}}).id
    h.execute(job_id)
    assert h.job(job_id).state is JobState.QUEUED
    assert h.installer.refs == []


def test_recovery_of_download_jobs_uses_the_io_queue_and_leaves_generate_jobs_alone() -> None:
    h = build()
    download_id = h.create(download()).id
    generate_id = h.create({"params": {"prompt": "a cat"}}).id
    h.io.restart()
    h.gpu.restart()
    RecoverJobs(
        h.repo,
        h.io,
        InProcessEventBus(),
        h.clock,
        h.retry,
        assume_dead=True,
        job_type=MODEL_DOWNLOAD,
    )()
    assert [j for j, _ in h.io.enqueued] == [download_id]
    assert generate_id not in [j for j, _ in h.io.enqueued]
    assert h.gpu.enqueued == []


def test_download_jobs_are_refused_where_they_are_not_enabled() -> None:
    h = build(downloads=False)
    with pytest.raises(InvalidInput) as caught:
        h.create(download())
    assert fields_of(caught.value) == ["type"]
    assert "not enabled" in caught.value.message
    assert sum(h.repo.count_by_state().values()) == 0


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"type": "model_download"}, ["params"]),
        ({"type": "model_download", "params": {}}, ["params.ref"]),
        ({"type": "model_download", "params": {"ref": ""}}, ["params.ref"]),
        ({"type": "model_download", "params": {"ref": 7}}, ["params.ref"]),
        ({"type": "model_download", "params": {"ref": "s3:bucket/x"}}, ["params.ref"]),
        ({"type": "model_download", "params": {"ref": "hf:"}}, ["params.ref"]),
        ({"type": "model_download", "params": {"ref": REF, "prompt": "x"}}, ["params.prompt"]),
        ({"type": "model_download", "params": [REF]}, ["params"]),
        ({**download(), "model_id": "x", "provider": "hf"}, ["model_id", "provider"]),
        ({**download(), "extra": 1}, ["extra"]),
    ],
)
def test_a_bad_download_request_names_its_fields_and_stores_nothing(
    body: dict[str, Any], fields: list[str]
) -> None:
    h = build()
    with pytest.raises(InvalidInput) as caught:
        h.create(body)
    assert fields_of(caught.value) == fields
    assert sum(h.repo.count_by_state().values()) == 0
    assert h.io.enqueued == []


def test_a_repeated_download_request_with_one_key_is_one_job() -> None:
    h = build()
    first = h.create(download(), key="k1")
    again = h.create_job(CreateJobCommand(body=download(), idempotency_key="k1"))
    assert (again.replayed, again.job.id) == (True, first.id)
    with pytest.raises(IdempotencyConflict):
        h.create(download("hf:acme/other"), key="k1")


def test_partial_files_are_discarded_when_the_job_fails_for_good_not_before() -> None:
    discarded: list[ResolvedModel] = []
    h = build(discarded=discarded)
    h.installer.failures.extend([Unavailable("hub is down"), Unavailable("still down")])
    job_id = h.create(download()).id
    h.io.run_due()
    job = h.job(job_id)
    assert (job.state, job.attempts) == (JobState.FAILED, 2)
    [model] = discarded  # once: after the last attempt, not after the retried one
    assert (model.name, model.version) == ("tiny-sdxl", "abc123")


def test_a_successful_download_discards_nothing() -> None:
    discarded: list[ResolvedModel] = []
    h = build(discarded=discarded)
    h.installer.failures.append(Unavailable("hub is down"))
    h.create(download())
    h.io.run_due()
    assert discarded == []
