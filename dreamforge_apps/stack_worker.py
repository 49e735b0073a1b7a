"""`dreamforge worker`: the process that runs the stack's jobs, one per GPU.

SIGTERM or SIGINT drains it: the job in progress finishes its image within the drain window,
goes back to the queue without counting an attempt, and the process exits.
"""

from __future__ import annotations

import logging
import signal
import threading

from dreamforge_apps.bootstrap.lifecycle import start, stop
from dreamforge_apps.bootstrap.stack import freeze_start_up_objects
from dreamforge_apps.bootstrap.stack_worker import StackWorker
from dreamforge_apps.settings import Settings

log = logging.getLogger(__name__)


def run_worker_process(settings: Settings) -> None:
    worker = StackWorker(settings=settings)
    stopping = threading.Event()

    def begin_stop(*_: object) -> None:
        stopping.set()
        worker.drain().begin()

    start(worker)
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, begin_stop)
        freeze_start_up_objects()
        log.info(
            "Dream Forge worker %s consuming the GPU queue (runner=%s)%s",
            worker.use_cases.generate_limits().worker_id,
            settings.runner,
            f" and the IO queue ({settings.io_worker_threads} thread(s))"
            if settings.model_download_jobs
            else "",
        )
        stopping.wait()
    finally:
        stop(worker)
