"""`dreamforge bench api`: throughput and latency of job creation on the embedded deployment.

The load generator is a minimal HTTP/1.1 keep-alive client on asyncio, so the figures
measure the server, not a heavyweight client library sharing the same cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from dreamforge_apps.benchmarks.ports import free_port
from dreamforge_apps.benchmarks.readiness import START_TIMEOUT_S, NotReady, wait_until_ready

BODY = json.dumps(
    {"params": {"prompt": "bench: a red cube", "width": 64, "height": 64, "steps": 4}}
).encode()


@contextmanager
def embedded_server(extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Starts `dreamforge serve` with the fake runner on a fresh data dir."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="dreamforge-bench-") as data:
        env = {
            **os.environ,
            "DREAMFORGE_RUNNER": "fake",
            "DREAMFORGE_DATA_DIR": data,
            "DREAMFORGE_LOG_LEVEL": "warning",
            **(extra_env or {}),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "dreamforge_apps.cli", "serve", "--port", str(port)], env=env
        )
        url = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_until_ready(
                    f"{url}/health", proc, timeout_s=START_TIMEOUT_S, request_timeout_s=1
                )
            except NotReady:
                raise click.ClickException("the server did not start") from None
            yield url
        finally:
            proc.terminate()
            proc.wait(15)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


def _post_bytes(host: str, port: int, path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _load(host: str, port: int, total: int, concurrency: int) -> tuple[list[float], float]:
    request = _post_bytes(host, port, "/v1/jobs", BODY)
    latencies: list[float] = []
    remaining = total

    async def connection() -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while remaining > 0:
                remaining -= 1
                t0 = time.perf_counter()
                writer.write(request)
                status, _ = await _read_response(reader)
                latencies.append(time.perf_counter() - t0)
                if status != 202:
                    raise click.ClickException(f"POST /v1/jobs answered {status}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


async def _first_progress(host: str, port: int) -> float:
    """Seconds from sending POST to receiving the job's first `progress` SSE event."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        t0 = time.perf_counter()
        writer.write(_post_bytes(host, port, "/v1/jobs", BODY))
        status, body = await _read_response(reader)
        if status != 202:
            raise click.ClickException(f"POST /v1/jobs answered {status}")
        job_id = json.loads(body)["id"]
        writer.write(
            f"GET /v1/jobs/{job_id}/progress/stream HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        )
        first: float | None = None
        while True:
            line = await reader.readline()
            if not line:
                raise click.ClickException("stream ended before the job did")
            if line.startswith(b"event: progress") and first is None:
                first = time.perf_counter() - t0
            if line.startswith(b"event: end"):  # leave the worker idle for the next sample
                return first if first is not None else time.perf_counter() - t0
    finally:
        writer.close()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pct_ms(values: list[float], q: float) -> float:
    """The q-quantile of seconds, in milliseconds to two decimals."""
    return round(_pct(values, q) * 1000, 2)


def post_figures(latencies: list[float], elapsed: float, concurrency: int) -> dict[str, Any]:
    """The figures of a POST load: its size, rate and latency quantiles."""
    return {
        "requests": len(latencies),
        "concurrency": concurrency,
        "creations_per_s": round(len(latencies) / elapsed, 1),
        "post_p50_ms": pct_ms(latencies, 0.50),
        "post_p99_ms": pct_ms(latencies, 0.99),
        "post_max_ms": round(max(latencies) * 1000, 2),
    }


def _measure(url: str, total: int, concurrency: int, samples: int) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    async def run() -> dict[str, Any]:
        first = [await _first_progress(host, port) for _ in range(samples)]
        await _load(host, port, min(500, total), concurrency)  # warm-up
        latencies, elapsed = await _load(host, port, total, concurrency)
        return {
            **post_figures(latencies, elapsed, concurrency),
            "first_progress_samples": samples,
            "first_progress_p50_ms": round(statistics.median(first) * 1000, 2) if first else None,
            "first_progress_p99_ms": pct_ms(first, 0.99) if first else None,
        }

    return asyncio.run(run())


def _report(label: str, figures: dict[str, Any]) -> None:
    click.echo(f"\n{label}")
    click.echo(
        f"  POST /v1/jobs          {figures['requests']} requests over "
        f"{figures['concurrency']} keep-alive connections"
    )
    click.echo(f"  creations/s            {figures['creations_per_s']}")
    click.echo(
        f"  POST latency p50/p99   {figures['post_p50_ms']} ms / {figures['post_p99_ms']} ms"
        f" (max {figures['post_max_ms']} ms)"
    )
    if figures["first_progress_samples"]:
        click.echo(
            f"  submit→first progress  p50 {figures['first_progress_p50_ms']} ms / "
            f"p99 {figures['first_progress_p99_ms']} ms "
            f"({figures['first_progress_samples']} jobs, idle worker)"
        )


def run_bench_api(
    url: str | None,
    total: int,
    concurrency: int,
    samples: int,
    step_delays: tuple[float, ...],
    json_out: Path | None,
) -> None:
    """Measures a given server once, or the embedded server once per worker step delay.

    A step delay > 0 stands in for GPU time: the worker thread waits, as it does on the
    runner's child process in production. A delay of 0 makes the worker run jobs back to back
    and compete with the API for the interpreter, the worst case for the API.
    """
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }
    click.echo(
        f"machine: {machine['cpus']} CPUs, Python {machine['python']}, {machine['platform']}"
    )
    runs: list[dict[str, Any]] = []
    if url:
        figures = _measure(url, total, concurrency, samples)
        _report(f"server at {url}", figures)
        runs.append({"deployment": url, **figures})
    for delay in () if url else step_delays:
        env = {"DREAMFORGE_FAKE_STEP_DELAY_S": str(delay)}
        with embedded_server(env) as started:
            figures = _measure(started, total, concurrency, samples)
        role = "worker busy back to back" if delay == 0 else "stands in for GPU time"
        _report(
            f"embedded (dreamforge serve), fake runner, step delay {delay * 1000:g} ms: {role}",
            figures,
        )
        runs.append({"deployment": "embedded", "worker_step_delay_s": delay, **figures})
    if json_out:
        json_out.write_text(json.dumps({"machine": machine, "runs": runs}, indent=2))
