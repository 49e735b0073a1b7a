"""Calling the synchronous use cases from async handlers.

On the embedded store a call is a sub-millisecond local transaction, cheaper inline than a
thread hop. On a network store a call can block for seconds (a database that is down waits
for its pool timeout), which would stall every request on the event loop, /health included;
there `offload_blocking` runs each call in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from litestar.datastructures import State

from dreamforge_adapters.http.services import HttpSettings

T = TypeVar("T")


def offloads(state: State) -> bool:
    settings: HttpSettings = state["http_settings"]
    return settings.offload_blocking


async def call(state: State, fn: Callable[..., T], *args: Any) -> T:
    if offloads(state):
        return await asyncio.to_thread(fn, *args)
    return fn(*args)
