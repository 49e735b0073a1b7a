"""`dreamforge worker`: runs jobs from the GPU queue, one process per GPU.

Besides the Dramatiq consumer it runs a sweeper (jobs stored but never enqueued, jobs whose
worker died) and a small HTTP server with /health, /ready and /metrics. With model download
jobs enabled it also consumes the IO queue, with its own broker and threads, so a download
never waits for a GPU job and never holds the GPU thread.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import uvicorn
from dramatiq import Worker

from dreamforge_adapters.dramatiq_queue import (
    IO_QUEUE,
    DramatiqJobQueue,
    close_broker,
    declare_job_actor,
    run_worker,
    start_worker,
)
from dreamforge_adapters.http import OpsServices, build_ops_app
from dreamforge_adapters.imaging import PillowImageEncoder
from dreamforge_adapters.logs import StructlogContext
from dreamforge_adapters.system import RandomSeeds
from dreamforge_apps import __version__
from dreamforge_apps.model_install import background_installer
from dreamforge_apps.runners import build_runner
from dreamforge_apps.serve import served_hosts, uvicorn_config
from dreamforge_apps.settings import Settings
from dreamforge_apps.stack import StackParts, freeze_start_up_objects, open_stack, stack_broker
from dreamforge_core.domain.job import MODEL_DOWNLOAD
from dreamforge_core.use_cases.execute_download import DownloadPorts, ExecuteDownload
from dreamforge_core.use_cases.execute_job import ExecuteJob, ExecutionLimits, ExecutionPorts
from dreamforge_core.use_cases.recover_jobs import RecoverJobs

log = logging.getLogger(__name__)

# Dramatiq's own time limit is a backstop above the core's step timeout, which does the work.
TIME_LIMIT_MARGIN_S = 120


def _sweep_forever(recovers: list[RecoverJobs], every_s: float, stop: threading.Event) -> None:
    while not stop.wait(every_s):
        for recover in recovers:
            try:
                found = recover()
                if found:
                    log.info("sweeper: put %d job(s) back on the queue", found)
            except Exception:  # a dependency is down; the next sweep tries again
                log.warning("sweeper: pass failed", exc_info=True)


class _IoConsumer:
    """The IO queue's consumer in a worker process: model_download jobs (FR-098)."""

    def __init__(self, settings: Settings, parts: StackParts) -> None:
        self._settings = settings
        self.broker = stack_broker(settings)
        self.queue = DramatiqJobQueue(self.broker, queue_name=IO_QUEUE)
        limits = ExecutionLimits(
            step_timeout_s=settings.download_timeout_s, lease_s=settings.lease_s
        )
        execute = ExecuteDownload(
            DownloadPorts(
                repo=parts.repo,
                queue=self.queue,
                bus=parts.bus,
                clock=parts.clock,
                metrics=parts.metrics,
                log_context=StructlogContext(),
                install=background_installer(settings, parts.registry),
                tracer=parts.tracing.tracer,
            ),
            parts.retry,
            limits,
        )
        declare_job_actor(
            self.broker,
            execute,
            queue_name=IO_QUEUE,
            time_limit_ms=int((settings.download_timeout_s + TIME_LIMIT_MARGIN_S) * 1000),
        )
        self.recover = RecoverJobs(
            parts.repo,
            self.queue,
            parts.bus,
            parts.clock,
            parts.retry,
            grace_s=2 * settings.sweep_interval_s,
            job_type=MODEL_DOWNLOAD,
        )
        self._worker: Worker | None = None

    def start(self) -> None:
        settings = self._settings
        self._worker = start_worker(
            self.broker,
            queues=(IO_QUEUE,),
            threads=settings.io_worker_threads,
            poll_ms=settings.worker_poll_ms,
        )

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop(timeout=10_000)  # a download resumes where it stopped
        close_broker(self.broker)


def _ops_server(settings: Settings, parts: StackParts, runner: Any) -> uvicorn.Server:
    checks = parts.ready_checks()
    # API keys never guard this port, so only its bind decides the Host check
    hosts = served_hosts(settings.worker_http_host, settings, keys_guard=False)
    app = build_ops_app(OpsServices(parts.metrics, checks), hosts)
    return uvicorn.Server(
        uvicorn_config(app, settings.worker_http_host, settings.worker_http_port, settings)
    )


def run_worker_process(settings: Settings) -> None:
    parts = open_stack(settings, listen=False, service="worker")
    runner = build_runner(settings)
    stop = threading.Event()
    io: _IoConsumer | None = None
    try:
        limits = ExecutionLimits(
            step_timeout_s=settings.step_timeout_s,
            progress_interval_s=settings.progress_interval_s,
            lease_s=settings.lease_s,
        )
        execute = ExecuteJob(
            ExecutionPorts(
                repo=parts.repo,
                queue=parts.queue,
                bus=parts.bus,
                registry=parts.registry,
                runner=runner,
                encoder=PillowImageEncoder(),
                blobs=parts.blobs,
                clock=parts.clock,
                seeds=RandomSeeds(),
                metrics=parts.metrics,
                log_context=StructlogContext(),
                tracer=parts.tracing.tracer,
            ),
            parts.retry,
            generator=f"Dream Forge {__version__}",
            limits=limits,
        )
        declare_job_actor(
            parts.broker,
            execute,
            time_limit_ms=int((settings.step_timeout_s + TIME_LIMIT_MARGIN_S) * 1000),
        )
        recovers = [
            RecoverJobs(
                parts.repo,
                parts.queue,
                parts.bus,
                parts.clock,
                parts.retry,
                grace_s=2 * settings.sweep_interval_s,
            )
        ]
        if settings.model_download_jobs:
            io = _IoConsumer(settings, parts)
            recovers.append(io.recover)
        threading.Thread(
            target=_sweep_forever,
            args=(recovers, settings.sweep_interval_s, stop),
            name="dreamforge-sweeper",
            daemon=True,
        ).start()
        ops = _ops_server(settings, parts, runner)
        threading.Thread(target=ops.run, name="dreamforge-ops-http", daemon=True).start()
        warm_up = getattr(runner, "warm_up", None)
        if warm_up is not None:
            warm_up()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        if io is not None:
            io.start()
        freeze_start_up_objects()
        log.info(
            "Dream Forge worker %s consuming the GPU queue (runner=%s)%s",
            limits.worker_id,
            settings.runner,
            f" and the IO queue ({settings.io_worker_threads} thread(s))" if io else "",
        )
        run_worker(parts.broker, stop=stop, threads=1, poll_ms=settings.worker_poll_ms)
        ops.should_exit = True
    finally:
        stop.set()
        if io is not None:
            io.close()
        runner.close()
        parts.close()
