"""Background model downloads (FR-098): a `model_download` job runs the same downloader as
`dreamforge model download`, on a worker of the IO queue, and upserts the registry.

The story is a generate job's with one item: claim the job (`JobClaim`), install the model
reporting progress, then succeed; or retry, fail or hand back (`JobOutcome`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from dreamforge_core.domain.job import MODEL_DOWNLOAD
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.errors import StepTimeout
from dreamforge_core.ports.model_source import ResolvedModel
from dreamforge_core.use_cases.install_model import InstallResult
from dreamforge_core.use_cases.job_claim import JobClaim
from dreamforge_core.use_cases.job_outcome import JobOutcome, job_duration
from dreamforge_core.use_cases.job_ports import JobPorts
from dreamforge_core.use_cases.running_job import JobLimits, RunningJob

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


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadJobPorts(JobPorts):
    """What a `model_download` job adds. Its `stop` is not drained: a stopping IO worker
    leaves its download, which resumes from its part files."""

    install: ModelInstaller
    discard_partial: PartialCleanup | None = None


class RunDownloadJob:
    """Runs one delivery of a `model_download` job id.

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

    def __init__(self, ports: DownloadJobPorts, retry: RetryPolicy, limits: JobLimits) -> None:
        self._ports = ports
        self._limits = limits
        self._claim = JobClaim(
            ports,
            retry,
            limits,
            job_type=MODEL_DOWNLOAD,
            progress_interval_s=DOWNLOAD_PROGRESS_INTERVAL_S,
        )
        self._outcome = JobOutcome(ports, retry)

    def __call__(self, job_id: str) -> None:
        self._claim.run(job_id, self._install, self._outcome.settle)

    def _install(self, run: RunningJob) -> None:
        p, job = self._ports, run.job
        with run.lock:
            job.start_item(0, None, p.clock.now())
            run.save()  # the claim
        watch = _ProgressWatch(p, run, self._limits.step_timeout_s)
        with p.tracer.span("dreamforge.model.install", ref=job.download.ref):
            result = p.install(job.download.ref, watch)
        model = result.model
        with run.lock:
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
            run.save()
        p.metrics.model_downloaded(result.fetched_bytes, result.seconds)
        p.metrics.job_finished("succeeded", job_duration(job), job_type=job.type)


class _ProgressWatch:
    """The downloader's reports as job progress; once the files are known, a failure for
    good removes their partial files."""

    def __init__(self, ports: DownloadJobPorts, run: RunningJob, timeout_s: float) -> None:
        self._p = ports
        self._run = run
        self._timeout_s = timeout_s
        self._total: int | None = None
        self._done: dict[str, int] = {}
        self._resolved: ResolvedModel | None = None  # once the source has listed the files
        run.when_failed(self._discard_partial)

    def _discard_partial(self) -> None:
        if self._resolved is not None and self._p.discard_partial is not None:
            self._p.discard_partial(self._resolved)

    def resolved(self, model: ResolvedModel) -> None:
        sizes = [f.size for f in model.files]
        self._total = sum(s for s in sizes if s is not None) if None not in sizes else None
        self._resolved = model
        run = self._run
        with run.lock:
            run.job.advance_item(
                0,
                "resolve",
                1.0,
                self._p.clock.now(),
                source_uri=model.source_uri,
                files=len(model.files),
                total_bytes=self._total,
            )
            run.save()

    def __call__(self, name: str, done: int, total: int | None) -> None:
        run = self._run
        if time.monotonic() - run.started > self._timeout_s:
            raise StepTimeout(
                f"the download ran past its {self._timeout_s:g}s timeout", job_id=run.job.id
            )
        with run.lock:
            self._done[name] = done
            if not self._total or not run.pacer.due(time.monotonic()):
                return
            received = sum(self._done.values())
            run.job.advance_item(
                0,
                "fetch",
                received / self._total,
                self._p.clock.now(),
                bytes_done=received,
                total_bytes=self._total,
            )
            run.save()
