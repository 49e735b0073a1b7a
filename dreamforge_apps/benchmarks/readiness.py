"""Waiting for a started server process to answer."""

from __future__ import annotations

import subprocess
import time

import httpx


class NotReady(Exception):
    """The process ended first (`exited`), or the URL did not answer 200 in time."""

    def __init__(self, url: str, *, exited: bool) -> None:
        super().__init__(f"{url}: the process exited" if exited else f"{url} never became ready")
        self.exited = exited


def wait_until_ready(
    url: str,
    proc: subprocess.Popen[bytes],
    *,
    timeout_s: float,
    request_timeout_s: float = 2.0,
    interval_s: float = 0.05,
) -> None:
    """Returns once GET `url` answers 200; raises NotReady when `proc` exits first or
    `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise NotReady(url, exited=True)
        try:
            if httpx.get(url, timeout=request_timeout_s).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(interval_s)
    raise NotReady(url, exited=False)
