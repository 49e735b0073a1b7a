"""`dreamforge serve`: the embedded deployment behind uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import signal
import sys
from collections.abc import Callable
from types import FrameType
from urllib.parse import urlsplit

import uvicorn

from dreamforge_adapters.http import LoopbackHosts
from dreamforge_adapters.http.slow_clients import ConnectionLimits, guarded_protocol
from dreamforge_apps.embedded import build_embedded
from dreamforge_apps.open_files import connections_that_fit
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


def served_hosts(host: str, settings: Settings, *, keys_guard: bool = True) -> LoopbackHosts | None:
    """The Host names a server listening on `host` answers; None: any.

    A loopback server with no API keys is open to any web page its users visit, through DNS
    rebinding, unless it answers only loopback names (and the public URL's host, which a
    reverse proxy may forward). Keys close it, and so does a bind beyond loopback, which the
    operator asked for (`check_bind`). `keys_guard=False` for a port that keys never guard.
    """
    if not is_loopback(host) or (keys_guard and settings.api_key_set):
        return None
    public = urlsplit(settings.public_url).hostname if settings.public_url else None
    return LoopbackHosts(also=[public] if public else [])


def uvicorn_config(app: object, host: str, port: int, settings: Settings) -> uvicorn.Config:
    limits = ConnectionLimits(
        head_timeout_s=settings.http_head_timeout_s,
        body_timeout_s=settings.http_body_timeout_s,
        max_connections=connections_that_fit(settings.http_max_connections),
    )
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        # httptools with limits on the request head (431 beyond them), deadlines for the
        # head and the body (408) and a bound on connections; bodies are limited by the
        # application (413), with or without Content-Length
        http=guarded_protocol(limits),
        ws="none",  # no WebSocket routes: an upgrade would leave the guarded protocol
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
    deployment = build_embedded(settings, hosts=served_hosts(host, settings))
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
