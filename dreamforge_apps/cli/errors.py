"""How the `dreamforge` command fails: expected failures end in one sentence on stderr.

`PoliteGroup` (the top-level group) translates the exceptions that name an expected failure (a
server that cannot be reached or refuses, a store that is down, a domain error, a bad setting)
into `CommandFailed`, which click prints as `Error: <sentence>`. Commands raise freely and keep
no try/except of their own for these. Anything else is a bug and keeps its traceback.

Exit statuses: 1 for a failure, 2 for a request that a server refused or that never reached it
(as for click's own usage errors, 2 means "the request itself did not go through").
"""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError

from dreamforge_core.errors import DreamForgeError

SERVER_KEY = "dreamforge.server"


class CommandFailed(click.ClickException):
    """Exit status 1: the command failed."""


class RequestFailed(CommandFailed):
    """Exit status 2: a server refused the request, or it never reached one."""

    exit_code = 2


def remember_server(ctx: click.Context, _: click.Parameter, value: Any) -> Any:
    """Callback of a `--server`/`--url` option: failures name the server the user gave."""
    if value:
        ctx.meta[SERVER_KEY] = str(value)
    return value


def explain(exc: Exception, server: str | None) -> CommandFailed | None:
    """The sentence for an expected failure; None for anything else."""
    import httpx  # here, not at the top: `dreamforge --help` stays fast

    from dreamforge_apps.client import ApiError

    if isinstance(exc, ApiError):
        origin = _origin(exc.url) or server or "the server"
        if exc.code is None:
            return RequestFailed(
                f"{origin} answered {exc.status} {exc.message} without an error envelope: "
                "is it a Dream Forge server?"
            )
        return RequestFailed(f"{origin} answered {exc.status} {exc.code}: {exc.message}")
    if isinstance(exc, httpx.HTTPStatusError):  # an artifact download
        response = exc.response
        return RequestFailed(
            f"{exc.request.url} answered {response.status_code} {response.reason_phrase}"
        )
    if isinstance(exc, httpx.TransportError):
        origin = _request_origin(exc) or server or "the server"
        if isinstance(exc, httpx.ConnectError):
            return RequestFailed(f"cannot reach {origin}: {exc}")
        if isinstance(exc, httpx.TimeoutException):
            return RequestFailed(f"{origin} did not answer in time: {exc or 'timed out'}")
        return RequestFailed(f"the connection to {origin} failed: {exc}")
    if isinstance(exc, ConnectionError):  # the benchmarks' own sockets
        return RequestFailed(f"cannot reach {server or 'the server'}: {exc}")
    if isinstance(exc, DreamForgeError):
        return CommandFailed(f"{exc.code}: {exc}")
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        return CommandFailed(_bad_settings(exc))
    if isinstance(exc, OSError) and exc.filename:
        return CommandFailed(f"{exc.filename}: {exc.strerror}")
    return None


class PoliteGroup(click.Group):
    """The top-level group: see the module docstring."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:
            failed = explain(e, ctx.meta.get(SERVER_KEY))
            if failed is None:
                raise
            raise failed from None


_SECRETS = frozenset({"DREAMFORGE_WEBHOOK_SECRET"})  # never echoed, even when malformed


def _bad_settings(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        name = "DREAMFORGE_" + "_".join(str(p) for p in error["loc"]).upper()
        shown = "(hidden)" if name in _SECRETS else repr(error.get("input"))
        parts.append(f"{name}={shown}: {error['msg']}")
    return "invalid setting " + "; ".join(parts)


def _origin(url: str) -> str | None:
    import httpx

    if not url:
        return None
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode()}"


def _request_origin(exc: Exception) -> str | None:
    try:
        return _origin(str(exc.request.url))  # type: ignore[attr-defined]
    except RuntimeError:  # an httpx error raised before its request existed
        return None
