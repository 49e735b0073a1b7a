"""Waiting for a started server process to answer."""

from __future__ import annotations

import time
from typing import Protocol

import httpx

#: How long a started server may take to answer. Generous on purpose: a server with the SDXL
#: runner imports torch and diffusers first (7 CPU-s on a small machine), and a start on a loaded
#: machine shares its cores; a process that dies is noticed at once, whatever this is.
START_TIMEOUT_S = 120.0


class Process(Protocol):
    """What the wait needs of a started process (`subprocess.Popen` has it)."""

    def poll(self) -> int | None: ...


class NotReady(Exception):
    """The process ended first (`exited`), or the URL did not answer 200 in time."""

    def __init__(self, url: str, *, exited: bool) -> None:
        super().__init__(f"{url}: the process exited" if exited else f"{url} never became ready")
        self.exited = exited


def wait_until_ready(
    url: str,
    proc: Process,
    *,
    timeout_s: float,
    request_timeout_s: float = 2.0,
    interval_s: float = 0.05,
) -> None:
    """Returns once GET `url` answers 200; raises NotReady when `proc` exits first or
    `timeout_s` passes. One client serves every try: making one (its TLS context) costs more
    CPU than the request, 30 ms on a small machine, and a start is tried every 50 ms."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=request_timeout_s) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise NotReady(url, exited=True)
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(interval_s)
    raise NotReady(url, exited=False)
