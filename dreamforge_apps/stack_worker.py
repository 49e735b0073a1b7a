"""`dreamforge worker`: runs jobs from the GPU queue, one process per GPU.

Besides the Dramatiq consumer it runs a sweeper (jobs stored but never enqueued, jobs whose
worker died) and a small HTTP server with /health, /ready and /metrics.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import uvicorn

from dreamforge_adapters.dramatiq_queue import declare_job_actor, run_worker
from dreamforge_adapters.http import OpsServices, build_ops_app
from dreamforge_adapters.imaging import PillowImageEncoder
from dreamforge_adapters.logs import StructlogContext
from dreamforge_adapters.system import RandomSeeds
from dreamforge_apps import __version__
from dreamforge_apps.runners import build_runner
from dreamforge_apps.serve import uvicorn_config
from dreamforge_apps.settings import Settings
from dreamforge_apps.stack import StackParts, freeze_start_up_objects, open_stack
from dreamforge_core.use_cases.execute_job import ExecuteJob, ExecutionLimits, ExecutionPorts
from dreamforge_core.use_cases.recover_jobs import RecoverJobs

log = logging.getLogger(__name__)

# Dramatiq's own time limit is a backstop above the core's step timeout, which does the work.
TIME_LIMIT_MARGIN_S = 120


def _sweep_forever(recover: RecoverJobs, every_s: float, stop: threading.Event) -> None:
    while not stop.wait(every_s):
        try:
            found = recover()
            if found:
                log.info("sweeper: put %d job(s) back on the queue", found)
        except Exception:  # a dependency is down; the next sweep tries again
            log.warning("sweeper: pass failed", exc_info=True)


def _ops_server(settings: Settings, parts: StackParts, runner: Any) -> uvicorn.Server:
    checks = parts.ready_checks()
    app = build_ops_app(OpsServices(parts.metrics, checks))
    return uvicorn.Server(
        uvicorn_config(app, settings.worker_http_host, settings.worker_http_port, settings)
    )


def run_worker_process(settings: Settings) -> None:
    parts = open_stack(settings, listen=False)
    runner = build_runner(settings)
    stop = threading.Event()
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
        recover = RecoverJobs(
            parts.repo,
            parts.queue,
            parts.bus,
            parts.clock,
            parts.retry,
            grace_s=2 * settings.sweep_interval_s,
        )
        threading.Thread(
            target=_sweep_forever,
            args=(recover, settings.sweep_interval_s, stop),
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
        freeze_start_up_objects()
        log.info(
            "Dream Forge worker %s consuming the GPU queue (runner=%s)",
            limits.worker_id,
            settings.runner,
        )
        run_worker(parts.broker, stop=stop, threads=1, poll_ms=settings.worker_poll_ms)
        ops.should_exit = True
    finally:
        stop.set()
        runner.close()
        parts.close()
