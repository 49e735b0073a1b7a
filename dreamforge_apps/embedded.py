"""The embedded deployment: API and worker in one process on SQLite, local files and
in-process queue and events. No infrastructure needed.

One process owns a data directory (an OS lock on `serve.lock`), which is what lets its start-up
recovery take every running job for abandoned. While it runs, its sweeper recovers what a store
outage left behind; a graceful stop drains the worker like a stack worker's."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from dreamforge_adapters.http import (
    COUNTED_CODES,
    ApiServices,
    HttpSettings,
    LoopbackHosts,
    build_app,
)
from dreamforge_adapters.http.asgi import ASGIApp
from dreamforge_adapters.imaging import PillowImageEncoder
from dreamforge_adapters.inprocess import InProcessEventBus, InProcessJobQueue
from dreamforge_adapters.localfs import DirectoryInUse, DirectoryLock, LocalBlobStore
from dreamforge_adapters.localfs.blob_store import load_or_create_signing_key
from dreamforge_adapters.logs import StructlogContext
from dreamforge_adapters.prometheus import PrometheusMetrics
from dreamforge_adapters.sqlite import SqliteDatabase, SqliteJobRepo, SqliteModelRegistry
from dreamforge_adapters.system import RandomSeeds, SystemClock, SystemThreads
from dreamforge_apps import __version__
from dreamforge_apps.drain import Drain
from dreamforge_apps.model_install import (
    background_installer,
    partial_cleanup,
    sweep_abandoned_downloads,
)
from dreamforge_apps.models import ensure_builtin_models, validate_registry
from dreamforge_apps.runners import build_runner, configured_default_model
from dreamforge_apps.settings import Settings
from dreamforge_apps.sources import download_jobs
from dreamforge_apps.sweeper import Sweeper
from dreamforge_apps.tracing import Tracing, TracingUnavailable, open_tracing
from dreamforge_core.domain.job import MODEL_DOWNLOAD
from dreamforge_core.domain.model import choose_default_model
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.ports.runner import Runner
from dreamforge_core.use_cases.create_job import CreateJob
from dreamforge_core.use_cases.queries import ArtifactLimits, JobQueries, ModelQueries
from dreamforge_core.use_cases.recover_jobs import RecoverJobs
from dreamforge_core.use_cases.run_download_job import DownloadJobPorts, RunDownloadJob
from dreamforge_core.use_cases.run_generate_job import GenerateJobPorts, JobLimits, RunGenerateJob

log = logging.getLogger(__name__)


class ConfigurationError(Exception):
    """Raised when the settings cannot produce a working deployment."""


@dataclass
class EmbeddedQueue:
    """One in-process queue with the use case that runs its jobs."""

    queue: InProcessJobQueue
    execute: RunGenerateJob | RunDownloadJob
    recover: RecoverJobs


@dataclass
class EmbeddedDeployment:
    app: ASGIApp
    queue: InProcessJobQueue
    database: SqliteDatabase
    runner: Runner
    execute: RunGenerateJob
    recover: RecoverJobs  # at start-up: every unfinished job was this directory's last server's
    sweeper: Sweeper  # while running: jobs left running or queued by a store outage
    drain: Drain
    lock: DirectoryLock
    io: EmbeddedQueue | None = field(default=None)  # model_download jobs, when enabled
    tracing: Tracing | None = None

    def start_worker(self) -> int:
        """Requeues what an earlier process left unfinished, then starts the worker threads."""
        recovered = self.recover()
        warm_up = getattr(self.runner, "warm_up", None)
        if warm_up is not None:
            warm_up()
        self.queue.start(self.execute)
        if self.io is not None:
            recovered += self.io.recover()
            self.io.queue.start(self.io.execute)
        self.sweeper.start()
        if recovered:
            log.info("resumed %d unfinished job(s)", recovered)
        return recovered

    def begin_stop(self) -> None:
        """A graceful stop: no further job is taken, the running one drains. Safe in a signal
        handler (the queues' conditions are re-entrant)."""
        self.queue.stop_taking()
        if self.io is not None:
            self.io.queue.stop_taking()
        self.drain.begin()

    def close(self) -> None:
        self.begin_stop()
        self.sweeper.stop()
        if self.io is not None:
            self.io.queue.stop()
        self.queue.stop(self.drain.join_timeout_s)
        self.drain.end()
        self.runner.close()
        self.database.close()
        if self.tracing is not None:
            self.tracing.close()
        self.lock.release()


def lock_data_dir(data_dir: Path) -> DirectoryLock:
    try:
        return DirectoryLock(data_dir)
    except DirectoryInUse as e:
        who = f" (pid {e.holder_pid})" if e.holder_pid else ""
        raise ConfigurationError(
            f"another `dreamforge serve`{who} is already running on the data directory "
            f"{data_dir}; stop it first, or give this server its own DREAMFORGE_DATA_DIR"
        ) from e


def build_embedded(settings: Settings, hosts: LoopbackHosts | None = None) -> EmbeddedDeployment:
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_data_dir(data_dir)  # before anything reads the jobs another server may run
    try:
        return _build(settings, data_dir, lock, hosts)
    except BaseException:
        lock.release()
        raise


def _build(
    settings: Settings, data_dir: Path, lock: DirectoryLock, hosts: LoopbackHosts | None
) -> EmbeddedDeployment:
    try:
        tracing = open_tracing(settings, "serve")
    except TracingUnavailable as e:
        raise ConfigurationError(str(e)) from e
    runner = build_runner(settings)
    drain = Drain(settings.drain_timeout_s, runner)
    database = SqliteDatabase(data_dir / "dreamforge.sqlite3")
    repo = SqliteJobRepo(database)
    registry = SqliteModelRegistry(database)
    clock = SystemClock()
    ensure_builtin_models(settings.runner, registry, clock.now())
    validate_registry(registry, clock)
    signing_key = (
        settings.url_signing_key.encode()
        if settings.url_signing_key
        else load_or_create_signing_key(data_dir / "url-signing.key")
    )
    blobs = LocalBlobStore(data_dir / "blobs", signing_key)
    bus = InProcessEventBus()
    queue = InProcessJobQueue(workers=1)
    metrics = PrometheusMetrics(extra_error_codes=COUNTED_CODES)
    metrics.count_jobs_here()
    retry = RetryPolicy(
        settings.max_attempts, settings.retry_base_delay_s, settings.retry_max_delay_s
    )
    execute = RunGenerateJob(
        GenerateJobPorts(
            repo=repo,
            queue=queue,
            bus=bus,
            registry=registry,
            runner=runner,
            encoder=PillowImageEncoder(),
            blobs=blobs,
            clock=clock,
            seeds=RandomSeeds(),
            metrics=metrics,
            log_context=StructlogContext(),
            threads=SystemThreads(),
            tracer=tracing.tracer,
            stop=drain,
        ),
        retry,
        generator=f"Dream Forge {__version__}",
        limits=JobLimits(
            settings.step_timeout_s, settings.progress_interval_s, lease_s=settings.lease_s
        ),
    )
    grace_s = 2 * settings.sweep_interval_s
    sweeps = [RecoverJobs(repo, queue, bus, clock, retry, grace_s=grace_s)]
    default_model = configured_default_model(settings)
    if default_model is None and choose_default_model(registry.list()) is None:
        log.warning(
            "no model is installed: jobs must name a model_id; run `dreamforge model "
            "create-demo` for the tiny demo model, or install a checkpoint (no restart needed)"
        )
    io = None
    if settings.model_download_jobs:
        sweep_abandoned_downloads(settings)  # before the IO queue resumes any download
        io_queue = InProcessJobQueue(workers=settings.io_worker_threads)
        execute_download = RunDownloadJob(
            DownloadJobPorts(
                repo,
                io_queue,
                bus,
                clock,
                metrics,
                StructlogContext(),
                background_installer(settings, registry),
                SystemThreads(),
                tracing.tracer,
                partial_cleanup(settings),
            ),
            retry,
            JobLimits(settings.download_timeout_s, lease_s=settings.lease_s),
        )
        recover_downloads = RecoverJobs(
            repo, io_queue, bus, clock, retry, assume_dead=True, job_type=MODEL_DOWNLOAD
        )
        io = EmbeddedQueue(io_queue, execute_download, recover_downloads)
        sweeps.append(
            RecoverJobs(repo, io_queue, bus, clock, retry, grace_s=grace_s, job_type=MODEL_DOWNLOAD)
        )
    depths = {"gpu": queue.depth} | ({"io": io.queue.depth} if io is not None else {})
    metrics.watch_store(repo.count_by_state, depths)
    create = CreateJob(
        repo,
        queue,
        registry,
        clock,
        default_model_id=default_model,
        idempotency_window_s=settings.idempotency_window_s,
        downloads=download_jobs(settings, io.queue) if io is not None else None,
    )

    def worker_alive() -> None:
        if not queue.alive:
            raise RuntimeError("worker thread is not running")

    services = ApiServices(
        create_job=create,
        jobs=JobQueries(
            repo, blobs, ArtifactLimits(settings.artifact_ttl_s, settings.artifact_ttl_max_s)
        ),
        models=ModelQueries(registry),
        bus=bus,
        metrics=metrics,
        ready_checks={"database": repo.ping, "storage": blobs.ping, "worker": worker_alive},
        blob_reader=blobs,
        tracer=tracing.tracer,
    )
    http = HttpSettings(
        api_keys=settings.api_key_set,
        admin_api_keys=settings.admin_api_key_set,
        public_url=settings.public_url,
        sse_keepalive_s=settings.sse_keepalive_s,
        version=__version__,
        hosts=hosts,
    )
    return EmbeddedDeployment(
        app=build_app(services, http),
        queue=queue,
        database=database,
        runner=runner,
        execute=execute,
        recover=RecoverJobs(repo, queue, bus, clock, retry, assume_dead=True),
        sweeper=Sweeper(sweeps, settings.sweep_interval_s),
        drain=drain,
        lock=lock,
        io=io,
        tracing=tracing,
    )
