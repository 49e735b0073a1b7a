"""The HTTP servers of every process: which binds are safe, which Host names a server
answers, and uvicorn's configuration with the connection guards."""

from __future__ import annotations

import ipaddress
import sys
from urllib.parse import urlsplit

import uvicorn

from dreamforge_adapters.http import LoopbackHosts
from dreamforge_adapters.http.slow_clients import ConnectionLimits, guarded_protocol
from dreamforge_apps.open_files import connections_that_fit
from dreamforge_apps.settings import Settings


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
