"""`dreamforge bench slow-clients`: slow clients (slowloris) against a server on loopback.

Opens CONNECTIONS connections that each send a request head one byte every DRIP seconds and
never finish it. Once they are all open, it times GET /health and POST /v1/jobs, each on a
fresh connection, and then waits for the server to cut the slow ones. The figures: how many
slow connections the server held at once, the probes' latency during the attack, and how
long after its start each slow connection was cut (with a 408, or closed).

It speaks only to loopback addresses, opens at most 5,000 connections, and stops by itself
after GIVE_UP seconds, whatever the server does.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from dreamforge_apps.http_server import is_loopback

MAX_CONNECTIONS = 5000
JOB = json.dumps({"params": {"prompt": "probe", "width": 64, "height": 64, "steps": 2}}).encode()
_SPARE_FDS = 64  # the probes, the event loop, the interpreter's own files


@dataclass
class SlowClientsReport:
    connections: int  # slow connections asked for
    opened: int = 0  # of them, connected
    cut: int = 0  # closed by the server before the give-up time
    cut_with_408: int = 0  # of them, with a 408 response first (the head timed out)
    cut_with_503: int = 0  # with a 503 first (shed for a newer connection at the bound)
    held_at_end: int = 0  # still open when the attack gave up
    peak_held: int = 0  # open at the same time as the client sees it, at most
    held_when_probes_began: int = 0
    cut_after_s: list[float] = field(default_factory=list)  # from connect to cut, each
    health: list[tuple[int, float]] = field(default_factory=list)  # (status, seconds)
    post: list[tuple[int, float]] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        cut_after = sorted(self.cut_after_s)
        return {
            "slow_connections": self.connections,
            "opened": self.opened,
            "peak_held": self.peak_held,
            "held_when_probes_began": self.held_when_probes_began,
            "cut": self.cut,
            "cut_with_408": self.cut_with_408,
            "cut_with_503": self.cut_with_503,
            "held_at_end": self.held_at_end,
            "cut_after_p50_s": _round(_pct(cut_after, 0.5)),
            "cut_after_max_s": _round(cut_after[-1] if cut_after else None),
            "health_statuses": sorted({s for s, _ in self.health}),
            "health_p50_ms": _ms(_pct(sorted(t for _, t in self.health), 0.5)),
            "health_max_ms": _ms(max((t for _, t in self.health), default=None)),
            "post_statuses": sorted({s for s, _ in self.post}),
            "post_p50_ms": _ms(_pct(sorted(t for _, t in self.post), 0.5)),
            "post_max_ms": _ms(max((t for _, t in self.post), default=None)),
        }


def _pct(ordered: list[float], q: float) -> float | None:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def ensure_open_files(needed: int) -> int:
    """Raises this process's soft limit on open files to `needed` if the hard limit allows;
    returns the soft limit in force (child processes inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return needed
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


class _Attack:
    def __init__(self, host: str, port: int, report: SlowClientsReport, drip_s: float) -> None:
        self.host, self.port, self.report, self.drip_s = host, port, report, drip_s
        self.held = 0
        self.all_open = asyncio.Event()
        self.attempted = 0

    def _connected(self) -> None:
        self.held += 1
        self.report.opened += 1
        self.report.peak_held = max(self.report.peak_held, self.held)

    def _settled(self) -> None:
        self.attempted += 1
        if self.attempted == self.report.connections:
            self.all_open.set()

    async def slow_client(self, start: asyncio.Semaphore, give_up: float) -> None:
        """One connection that sends a head byte every drip_s and never ends it."""
        async with start:
            try:  # a full listen backlog drops SYNs, and the kernel retries them for minutes
                async with asyncio.timeout(max(0.0, give_up - time.monotonic())):
                    reader, writer = await asyncio.open_connection(self.host, self.port)
            except (OSError, TimeoutError):
                self._settled()
                return
        began = time.monotonic()
        self._connected()
        self._settled()
        head = f"GET /health HTTP/1.1\r\nHost: {self.host}\r\nX-Slow: ".encode()
        answer = b""
        cut = False
        try:
            writer.write(head)
            while time.monotonic() < give_up:
                wait = min(self.drip_s, max(0.0, give_up - time.monotonic()))
                try:
                    data = await asyncio.wait_for(reader.read(4096), wait)
                except TimeoutError:
                    writer.write(b"a")
                    continue
                if not data:
                    cut = True
                    break
                answer += data
        except OSError:  # reset or broken pipe: cut as well
            cut = True
        finally:
            self.held -= 1
            writer.close()
        if cut:
            self.report.cut += 1
            self.report.cut_after_s.append(time.monotonic() - began)
            self.report.cut_with_408 += answer.startswith(b"HTTP/1.1 408 ")
            self.report.cut_with_503 += answer.startswith(b"HTTP/1.1 503 ")
        else:
            self.report.held_at_end += 1

    async def request(self, raw: bytes) -> tuple[int, float]:
        """(status, seconds) of one request on a fresh connection; status 0 if none came."""
        began = time.monotonic()
        try:
            async with asyncio.timeout(10):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    writer.write(raw)
                    status_line = await reader.readline()
                finally:
                    writer.close()
            status = int(status_line.split()[1])
        except (OSError, TimeoutError, IndexError, ValueError):
            status = 0
        return status, time.monotonic() - began

    async def probes(self, count: int, give_up: float) -> None:
        await self.all_open.wait()
        self.report.held_when_probes_began = self.held
        host = f"Host: {self.host}:{self.port}\r\n"
        health = f"GET /health HTTP/1.1\r\n{host}Connection: close\r\n\r\n".encode()
        post = (
            f"POST /v1/jobs HTTP/1.1\r\n{host}Content-Type: application/json\r\n"
            f"Content-Length: {len(JOB)}\r\nConnection: close\r\n\r\n"
        ).encode() + JOB
        for _ in range(count):
            if time.monotonic() > give_up:
                return
            self.report.health.append(await self.request(health))
            self.report.post.append(await self.request(post))


async def attack(
    host: str,
    port: int,
    *,
    connections: int = 1000,
    drip_s: float = 1.0,
    probes: int = 20,
    give_up_s: float = 60.0,
) -> SlowClientsReport:
    """Runs the attack on a loopback server; returns what was seen."""
    if not is_loopback(host):
        raise ValueError(f"{host} is not a loopback address: this attack stays on loopback")
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise ValueError(f"connections must be between 1 and {MAX_CONNECTIONS}")
    report = SlowClientsReport(connections)
    run = _Attack(host, port, report, drip_s)
    give_up = time.monotonic() + give_up_s
    start = asyncio.Semaphore(100)  # connects in flight: stay within the listen backlog
    slow = [asyncio.create_task(run.slow_client(start, give_up)) for _ in range(connections)]
    await run.probes(probes, give_up)
    await asyncio.gather(*slow)
    return report


def run_bench_slow_clients(
    url: str | None,
    connections: int,
    drip_s: float,
    probes: int,
    give_up_s: float,
    head_timeout_s: float,
    json_out: Path | None,
) -> None:
    limit = ensure_open_files(connections + _SPARE_FDS)
    if limit < connections + _SPARE_FDS:
        raise click.ClickException(
            f"the open-files limit ({limit}) is too low for {connections} connections: "
            "raise it (ulimit -n) or ask for fewer"
        )
    if url is not None:
        figures = _attack_url(url, connections, drip_s, probes, give_up_s)
        label = f"server at {url}"
    else:
        from dreamforge_apps.benchmarks.api import embedded_server

        env = {"DREAMFORGE_HTTP_HEAD_TIMEOUT_S": str(head_timeout_s)}
        with embedded_server(env) as started:
            figures = _attack_url(started, connections, drip_s, probes, give_up_s)
        label = f"embedded (dreamforge serve), head timeout {head_timeout_s:g} s"
    click.echo(f"\n{label}")
    for name, value in figures.items():
        click.echo(f"  {name:24} {value}")
    if json_out:
        json_out.write_text(json.dumps({"server": label, **figures}, indent=2))


def _attack_url(
    url: str, connections: int, drip_s: float, probes: int, give_up_s: float
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    if not is_loopback(host):
        raise click.ClickException(f"{url}: this benchmark only attacks loopback addresses")
    report = asyncio.run(
        attack(
            host,
            port,
            connections=connections,
            drip_s=drip_s,
            probes=probes,
            give_up_s=give_up_s,
        )
    )
    return {**report.figures(), "drip_s": drip_s}
