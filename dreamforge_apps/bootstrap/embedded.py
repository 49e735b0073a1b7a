"""The embedded deployment (`dreamforge serve`): API and worker in one process on SQLite,
local files and the in-process queue and events. No infrastructure needed.

One process owns a data directory (an OS lock on `serve.lock`), which is what lets its
start-up recovery take every running job for abandoned. While it runs, its sweeper recovers
what a store outage left behind; a graceful stop drains the worker like a stack worker's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from dependency_injector import containers, providers

from dreamforge_adapters.http import COUNTED_CODES, LoopbackHosts
from dreamforge_adapters.http.webhook_bodies import ApiWebhookBodies
from dreamforge_adapters.inprocess import InProcessEventBus, InProcessJobQueue
from dreamforge_adapters.inprocess.creation_rate import InProcessCreationRate
from dreamforge_adapters.localfs import DirectoryInUse, DirectoryLock, LocalBlobStore
from dreamforge_adapters.localfs.blob_store import load_or_create_signing_key
from dreamforge_adapters.prometheus import PrometheusMetrics
from dreamforge_adapters.sqlite import SqliteJobRepo
from dreamforge_adapters.system import SystemClock
from dreamforge_apps.bootstrap import resources
from dreamforge_apps.bootstrap.http_api import http_api_over
from dreamforge_apps.bootstrap.resources import ConfigurationError
from dreamforge_apps.bootstrap.stores import SqliteStores
from dreamforge_apps.bootstrap.use_cases import use_cases_over
from dreamforge_apps.drain import Drain
from dreamforge_apps.model_install import sweep_abandoned_downloads
from dreamforge_apps.models import checked_registry
from dreamforge_apps.settings import Settings
from dreamforge_apps.webhook_deliverer import Doorbell
from dreamforge_core.domain.model import choose_default_model
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.ports.runner import Runner
from dreamforge_core.use_cases.recover_jobs import RecoverJobs
from dreamforge_core.use_cases.run_download_job import RunDownloadJob
from dreamforge_core.use_cases.run_generate_job import RunGenerateJob

log = logging.getLogger(__name__)


def data_dir(settings: Settings) -> Path:
    path = settings.data_dir.resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir_lock(directory: Path) -> Iterator[DirectoryLock]:
    """Held from before anything reads the jobs another server may run, to the very end."""
    try:
        lock = DirectoryLock(directory)
    except DirectoryInUse as e:
        who = f" (pid {e.holder_pid})" if e.holder_pid else ""
        raise ConfigurationError(
            f"another `dreamforge serve`{who} is already running on the data directory "
            f"{directory}; stop it first, or give this server its own DREAMFORGE_DATA_DIR"
        ) from e
    yield lock
    lock.release()


def database_path(directory: Path, lock: DirectoryLock) -> Path:
    """The database file; asking for it takes the directory's lock first."""
    return directory / "dreamforge.sqlite3"


def blobs_dir(directory: Path) -> Path:
    return directory / "blobs"


def signing_key(settings: Settings, directory: Path) -> bytes:
    if settings.url_signing_key:
        return settings.url_signing_key.encode()
    return load_or_create_signing_key(directory / "url-signing.key")


def embedded_metrics(
    settings: Settings,
    repo: SqliteJobRepo,
    queue: InProcessJobQueue,
    io_queue: InProcessJobQueue,
) -> PrometheusMetrics:
    metrics = PrometheusMetrics(extra_error_codes=COUNTED_CODES)
    metrics.count_jobs_here()
    depths = {"gpu": queue.depth} | ({"io": io_queue.depth} if settings.model_download_jobs else {})
    metrics.watch_store(repo.count_by_state, depths)
    return metrics


def embedded_ready_checks(
    repo: SqliteJobRepo, blobs: LocalBlobStore, queue: InProcessJobQueue
) -> dict[str, Callable[[], None]]:
    def worker_alive() -> None:
        if not queue.alive:
            raise RuntimeError("worker thread is not running")

    return {"database": repo.ping, "storage": blobs.ping, "worker": worker_alive}


def warn_when_no_model(default_model_id: str | None, registry: ModelRegistry) -> None:
    if default_model_id is None and choose_default_model(registry.list()) is None:
        log.warning(
            "no model is installed: jobs must name a model_id; run `dreamforge model "
            "create-demo` for the tiny demo model, or install a checkpoint (no restart needed)"
        )


class EmbeddedWorker:
    """The worker threads of the embedded server: one for generate jobs, and the IO threads
    for model_download jobs when they are enabled."""

    def __init__(self, queue: InProcessJobQueue, io_queue: InProcessJobQueue, drain: Drain) -> None:
        self.queue = queue
        self.io_queue = io_queue
        self.drain = drain

    def begin_stop(self) -> None:
        """A graceful stop: no further job is taken, the running one drains. Safe in a signal
        handler (the queues' conditions are re-entrant)."""
        self.queue.stop_taking()
        self.io_queue.stop_taking()
        self.drain.begin()

    def stop(self) -> None:
        self.begin_stop()
        self.io_queue.stop()  # a download resumes where it stopped
        self.queue.stop(self.drain.join_timeout_s)
        self.drain.end()


def embedded_worker(
    settings: Settings,
    queue: InProcessJobQueue,
    io_queue: InProcessJobQueue,
    execute: RunGenerateJob,
    execute_download: RunDownloadJob,
    recover: RecoverJobs,
    recover_downloads: RecoverJobs,
    runner: Runner,
    drain: Drain,
) -> Iterator[EmbeddedWorker]:
    """Requeues what an earlier process left unfinished (every unfinished job was this
    directory's last server's), warms the runner, then starts the worker threads."""
    recovered = recover()
    warm_up = getattr(runner, "warm_up", None)
    if warm_up is not None:
        warm_up()
    queue.start(execute)
    if settings.model_download_jobs:
        sweep_abandoned_downloads(settings)  # before the IO queue resumes any download
        recovered += recover_downloads()
        io_queue.start(execute_download)
    if recovered:
        log.info("resumed %d unfinished job(s)", recovered)
    worker = EmbeddedWorker(queue, io_queue, drain)
    yield worker
    worker.stop()


class EmbeddedPorts(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    # Where artifact URLs in webhook bodies point: the public URL, or the server's address.
    public_root = providers.Dependency(instance_of=str, default="")

    directory = providers.Singleton(data_dir, settings)
    lock = providers.Resource(data_dir_lock, directory)
    tracing = providers.Resource(resources.tracing, settings, "serve")
    blobs = providers.Singleton(
        LocalBlobStore,
        providers.Callable(blobs_dir, directory),
        providers.Callable(signing_key, settings, directory),
    )
    doorbell = providers.Singleton(Doorbell)
    stores = providers.Container(
        SqliteStores,
        path=providers.Callable(database_path, directory, lock),
        webhook_bodies=providers.Singleton(
            ApiWebhookBodies, blobs, public_root, settings.provided.artifact_ttl_s
        ),
        messages_stored=doorbell.provided.ring,
    )
    clock = providers.Singleton(SystemClock)
    repo = stores.repo
    outbox = stores.outbox
    registry = providers.Singleton(
        checked_registry, stores.registry, settings.provided.runner, clock
    )
    bus = providers.Singleton(InProcessEventBus)
    creation_rate = providers.Singleton(InProcessCreationRate)
    queue = providers.Singleton(InProcessJobQueue, workers=1)
    io_queue = providers.Singleton(InProcessJobQueue, workers=settings.provided.io_worker_threads)
    metrics = providers.Singleton(embedded_metrics, settings, repo, queue, io_queue)
    runner = providers.Resource(resources.runner, settings)
    drain = providers.Singleton(Drain, settings.provided.drain_timeout_s, runner)


class Embedded(containers.DeclarativeContainer):
    """`dreamforge serve`: `lifecycle.start` opens it and starts the worker, `lifecycle.stop`
    drains and closes it."""

    settings = providers.Dependency(instance_of=Settings)
    hosts: providers.Dependency[LoopbackHosts | None] = providers.Dependency(
        default=providers.Object(None)
    )
    public_root = providers.Dependency(instance_of=str, default="")

    ports = providers.Container(EmbeddedPorts, settings=settings, public_root=public_root)
    use_cases = use_cases_over(ports, settings, runner=ports.runner, stop=ports.drain)
    http = http_api_over(
        use_cases,
        ports,
        settings,
        hosts=hosts,
        ready_checks=providers.Callable(
            embedded_ready_checks, ports.repo, ports.blobs, ports.queue
        ),
        blob_reader=ports.blobs,
    )
    model_check = providers.Callable(warn_when_no_model, use_cases.default_model_id, ports.registry)
    worker = providers.Resource(
        embedded_worker,
        settings,
        ports.queue,
        ports.io_queue,
        use_cases.run_generate_job,
        use_cases.run_download_job,
        use_cases.recover_abandoned,
        use_cases.recover_abandoned_downloads,
        ports.runner,
        ports.drain,
    )
    sweeper = providers.Resource(resources.sweeper, use_cases.sweeps, settings)
    webhooks = providers.Resource(
        resources.webhook_deliverer, use_cases.deliver_webhooks, ports.doorbell
    )
