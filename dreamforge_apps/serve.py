"""`dreamforge serve`: the embedded deployment behind uvicorn."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn

from dreamforge_apps.bootstrap.embedded import Embedded
from dreamforge_apps.bootstrap.lifecycle import start, stop
from dreamforge_apps.http_server import check_bind, served_hosts, uvicorn_config
from dreamforge_apps.settings import Settings

log = logging.getLogger(__name__)


class _DrainingServer(uvicorn.Server):
    """Starts draining the worker at the stop signal, while the HTTP side shuts down."""

    def __init__(self, config: uvicorn.Config, begin_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._begin_stop = begin_stop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._begin_stop()
        super().handle_exit(sig, frame)


def serve_embedded(settings: Settings, host: str, port: int) -> None:
    check_bind(host, settings)
    for name in ("database_url", "redis_url", "s3_endpoint"):
        if getattr(settings, name):
            log.warning(
                "DREAMFORGE_%s is set, but `dreamforge serve` is the embedded "
                "deployment: it keeps jobs in SQLite and artifacts in the data "
                "directory",
                name.upper(),
            )
    # The worker thread shares the interpreter with the event loop; a short switch interval
    # keeps request latency low while an image is being encoded.
    sys.setswitchinterval(0.001)
    deployment = Embedded(
        settings=settings,
        hosts=served_hosts(host, settings),
        public_root=settings.public_url or f"http://{_url_host(host)}:{port}",
    )
    start(deployment)
    try:
        deployment.model_check()
        begin_stop = deployment.worker().begin_stop
        server = _DrainingServer(
            uvicorn_config(deployment.http.app(), host, port, settings), begin_stop
        )
        # uvicorn puts back the handlers it found and raises its signal again once it has
        # stopped: with these, the process then drains the worker instead of dying at once.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: begin_stop())
        log.info(
            "Dream Forge listening on http://%s:%d (embedded, runner=%s)",
            host,
            port,
            settings.runner,
        )
        server.run()
    finally:
        stop(deployment)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
