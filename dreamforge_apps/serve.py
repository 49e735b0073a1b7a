"""`dreamforge serve`: the embedded deployment behind uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import signal
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn

from dreamforge_adapters.http.head_limits import HeadLimitedProtocol
from dreamforge_apps.embedded import build_embedded
from dreamforge_apps.settings import Settings

log = logging.getLogger(__name__)


class UnsafeBind(Exception):
    """Raised when asked to listen beyond loopback with no API key configured."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: Settings) -> None:
    keys = settings.api_key_set or settings.admin_api_key_set
    if is_loopback(host) or keys or settings.allow_insecure_bind:
        return
    raise UnsafeBind(
        f"refusing to listen on {host} without API keys: set DREAMFORGE_API_KEYS, "
        "or pass --allow-insecure-bind (DREAMFORGE_ALLOW_INSECURE_BIND=true) to expose an "
        "unauthenticated server on purpose"
    )


def uvicorn_config(app: object, host: str, port: int, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        # httptools with limits on the request head (431 beyond them); bodies are limited by
        # the application (413), with or without Content-Length
        http=HeadLimitedProtocol,
        access_log=False,
        log_config=None,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=3,
        server_header=False,
    )


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
    deployment = build_embedded(settings)
    try:
        deployment.start_worker()
        server = _DrainingServer(
            uvicorn_config(deployment.app, host, port, settings), deployment.begin_stop
        )
        # uvicorn puts back the handlers it found and raises its signal again once it has
        # stopped: with these, the process then drains the worker instead of dying at once.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: deployment.begin_stop())
        log.info(
            "Dream Forge listening on http://%s:%d (embedded, runner=%s)",
            host,
            port,
            settings.runner,
        )
        server.run()
    finally:
        deployment.close()
