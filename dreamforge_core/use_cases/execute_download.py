"""Background model downloads (FR-098): a `model_download` job runs the same downloader as
`dreamforge model download`, on a worker of the IO queue, and upserts the registry."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from dreamforge_core.domain.job import MODEL_DOWNLOAD, Job
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.errors import StepTimeout
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.job_metrics import JobMetrics
from dreamforge_core.ports.job_queue import JobQueue
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.log_context import LogContext
from dreamforge_core.ports.model_source import ResolvedModel
from dreamforge_core.ports.stop_signal import NO_STOP, StopSignal
from dreamforge_core.ports.tracer import NO_TRACER, Tracer
from dreamforge_core.use_cases.execution import ExecutionLimits, job_duration
from dreamforge_core.use_cases.install_model import InstallResult
from dreamforge_core.use_cases.job_attempt import JobAttempt
from dreamforge_core.use_cases.job_executor import JobExecutor
from dreamforge_core.use_cases.lease_keeper import LeaseKeeper

#: Stored progress of a download at most this often: a long download should not fill its
#: log with thousands of byte counts.
DOWNLOAD_PROGRESS_INTERVAL_S = 1.0


class DownloadWatch(Protocol):
    """Receives the downloader's reports during one attempt: the resolved file list, then
    bytes per file (from download threads; raising stops the download)."""

    def resolved(self, model: ResolvedModel) -> None: ...

    def __call__(self, name: str, done: int, total: int | None) -> None: ...


#: Installs `ref` (fetch, verify, register) reporting to the watch; the IO worker's wiring
#: adds what the CLI adds (the SDXL base config of a single-file checkpoint). It never
#: replaces an installed model: another version fails with `model_conflict`.
ModelInstaller = Callable[[str, DownloadWatch], InstallResult]

#: Removes the partial files a download of the resolved model left; best effort.
PartialCleanup = Callable[[ResolvedModel], None]


@dataclass(frozen=True, slots=True)
class DownloadPorts:
    repo: JobRepo
    queue: JobQueue
    bus: EventBus
    clock: Clock
    metrics: JobMetrics
    log_context: LogContext
    install: ModelInstaller
    tracer: Tracer = NO_TRACER
    discard_partial: PartialCleanup | None = None
    # Not drained: a stopping IO worker leaves its download, which resumes from its part files.
    stop: StopSignal = NO_STOP


class ExecuteDownload(JobExecutor):
    """Runs one delivery of a `model_download` job id (the shared lifecycle is
    `JobExecutor`'s: claim, lease, retry with backoff, dead letters).

    Rules of an attempt:
    - progress: `resolve` once the files are listed, `fetch` by bytes against the sizes the
      source states, `register` with the registry entry; stored at most once a second;
    - a retry resumes where the last attempt stopped: verified files are skipped and partial
      files continue with range requests (the downloader's own rules);
    - the attempt has `step_timeout_s` in all; past it the download stops with `timeout`;
    - on success the job's `model_id` names the installed model. Unreachable sources and
      timeouts are retried; a missing model, a refused token, a refused file type, a hash
      mismatch, another version of an installed model or a download past the disk budget
      fail at once;
    - once the job has failed for good, the partial files of its model are removed: no
      retry will resume them.
    """

    job_type = MODEL_DOWNLOAD

    def __init__(self, ports: DownloadPorts, retry: RetryPolicy, limits: ExecutionLimits) -> None:
        super().__init__(ports, retry, limits)
        self._download_ports = ports

    def _attempt(self, job: Job) -> JobAttempt:
        return DownloadAttempt(self._download_ports, job, self._leases, self._limits)


class DownloadAttempt(JobAttempt):
    def __init__(
        self, ports: DownloadPorts, job: Job, leases: LeaseKeeper, limits: ExecutionLimits
    ) -> None:
        super().__init__(ports, job, leases, limits.lease_s)
        self.ports = ports
        self.timeout_s = limits.step_timeout_s
        self.resolved: ResolvedModel | None = None  # once the source has listed the files

    def failed(self) -> None:
        if self.resolved is not None and self.ports.discard_partial is not None:
            self.ports.discard_partial(self.resolved)

    def execute(self) -> None:
        p, job = self.ports, self.job
        with self.lock:
            job.start_item(0, None, p.clock.now())
            self.save()  # the claim
        with p.tracer.span("dreamforge.model.install", ref=job.download.ref):
            result = p.install(job.download.ref, _AttemptWatch(self))
        model = result.model
        with self.lock:
            now = p.clock.now()
            job.finish_download(
                model.id,
                now,
                checkpoint_hash=model.checkpoint_hash,
                files=len(result.files),
                fetched_bytes=result.fetched_bytes,
                seconds=round(result.seconds, 3),
            )
            job.succeed(now)
            self.save()
        p.metrics.model_downloaded(result.fetched_bytes, result.seconds)
        p.metrics.job_finished("succeeded", job_duration(job), job_type=job.type)


class _AttemptWatch:
    def __init__(self, attempt: DownloadAttempt) -> None:
        self._a = attempt
        self._total: int | None = None
        self._done: dict[str, int] = {}

    def resolved(self, model: ResolvedModel) -> None:
        sizes = [f.size for f in model.files]
        self._total = sum(s for s in sizes if s is not None) if None not in sizes else None
        a = self._a
        a.resolved = model
        with a.lock:
            a.job.advance_item(
                0,
                "resolve",
                1.0,
                a.ports.clock.now(),
                source_uri=model.source_uri,
                files=len(model.files),
                total_bytes=self._total,
            )
            a.save()

    def __call__(self, name: str, done: int, total: int | None) -> None:
        a = self._a
        if time.monotonic() - a.started > a.timeout_s:
            raise StepTimeout(
                f"the download ran past its {a.timeout_s:g}s timeout", job_id=a.job.id
            )
        with a.lock:
            self._done[name] = done
            if not self._total or time.monotonic() - a.saved_at < DOWNLOAD_PROGRESS_INTERVAL_S:
                return
            received = sum(self._done.values())
            a.job.advance_item(
                0,
                "fetch",
                received / self._total,
                a.ports.clock.now(),
                bytes_done=received,
                total_bytes=self._total,
            )
            a.save()
