"""Phase 3 of `dreamforge bench stack`: SSE fan-out, many clients on one API process."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import click

from dreamforge_apps.benchmarks.api import BODY, pct_ms
from dreamforge_apps.benchmarks.machine import CpuWatch, cpu_line
from dreamforge_apps.benchmarks.sse_client import Frame, open_stream, post_job
from dreamforge_apps.benchmarks.stack_target import Target, run_async

#: Fake seconds per step of the fan-out jobs (stands in for GPU time, started stack only).
SSE_STEP_DELAY_S = 0.02
SSE_CONNECT_PARALLEL = 50
DELIVERY_DEFINITION = (
    "receipt time at the client minus the event's `ts` (both this machine's wall clock), for "
    "every event whose `ts` is after the client's stream was open (replayed history excluded)"
)


@dataclass
class ClientResult:
    job_id: str
    subscribed_at: float = 0.0
    frames: list[Frame] = field(default_factory=list)
    ended: bool = False

    def latencies(self) -> list[float]:
        """Receipt minus `ts` of the events that happened after the stream was open."""
        out = []
        for frame in self.frames:
            ts = frame.ts
            if ts >= self.subscribed_at:
                out.append(frame.received - ts)
        return out


async def _follow(
    host: str,
    port: int,
    job_id: str,
    connect: asyncio.Semaphore,
    ready: Callable[[], None],
    result: ClientResult,
) -> None:
    async with connect:
        stream, writer = await open_stream(host, port, job_id)
    try:
        announced = False
        while True:
            frame = await stream.next_frame()
            if frame is None:
                break
            if stream.preamble_at is not None and not result.subscribed_at:
                result.subscribed_at = stream.preamble_at
            result.frames.append(frame)
            if not announced:
                announced = True
                ready()
            if frame.kind == "end":
                result.ended = True
                break
    finally:
        writer.close()


async def measure_fanout(
    host: str,
    port: int,
    clients: int,
    jobs: int,
    steps: int,
    start_worker: Callable[[], Coroutine[Any, Any, None]] | None,
    timeout_s: float,
) -> dict[str, Any]:
    body = json.dumps(
        {"params": {"prompt": "bench: fan-out", "width": 64, "height": 64, "steps": steps}}
    ).encode()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        if start_worker is not None:
            # First in the queue, followed by nobody: the worker starts with it, so the
            # followed jobs run on a warm process (pool connections, S3 client, model note).
            await post_job(reader, writer, host, port, BODY)
        job_ids = [await post_job(reader, writer, host, port, body) for _ in range(jobs)]
    finally:
        writer.close()
    results = [ClientResult(job_ids[i % jobs]) for i in range(clients)]
    connect = asyncio.Semaphore(SSE_CONNECT_PARALLEL)
    all_ready = asyncio.Event()
    ready_count = 0

    def ready() -> None:
        nonlocal ready_count
        ready_count += 1
        if ready_count == clients:
            all_ready.set()

    tasks = [asyncio.create_task(_follow(host, port, r.job_id, connect, ready, r)) for r in results]
    began = time.perf_counter()
    await asyncio.wait_for(all_ready.wait(), 120)
    connected_s = time.perf_counter() - began
    if start_worker is not None:
        await start_worker()
    done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        task.cancel()
    for task in done:
        error = task.exception()
        if error is not None:
            raise error
    latencies = [x for r in results for x in r.latencies()]
    gaps = sum(1 for r in results if [f.seq for f in r.frames] != list(range(1, len(r.frames) + 1)))
    return {
        "clients": clients,
        "jobs": jobs,
        "clients_per_job": round(clients / jobs, 1),
        "connect_all_s": round(connected_s, 2),
        "clients_ended": sum(r.ended for r in results),
        "clients_with_gaps_or_duplicates": gaps,
        "live_deliveries": len(latencies),
        "replayed_deliveries": sum(len(r.frames) for r in results) - len(latencies),
        "delivery_p50_ms": pct_ms(latencies, 0.5) if latencies else None,
        "delivery_p99_ms": pct_ms(latencies, 0.99) if latencies else None,
        "delivery_max_ms": round(max(latencies) * 1000, 2) if latencies else None,
    }


def phase_fanout(target: Target, clients: int, jobs: int, steps: int) -> dict[str, Any]:
    target.worker(None)  # the fan-out jobs stay queued until every client follows one
    cpu = CpuWatch(target.pids())
    start: Callable[[], Coroutine[Any, Any, None]] | None = None
    stack = target.stack
    if stack is not None:

        async def start_worker() -> None:
            await asyncio.to_thread(stack.start_worker, SSE_STEP_DELAY_S)
            if stack.worker is not None:
                cpu.add("worker", stack.worker.pid)

        start = start_worker
    timeout_s = 60 + jobs * steps * SSE_STEP_DELAY_S * 3
    fanout = run_async(
        measure_fanout(target.host, target.port, clients, jobs, steps, start, timeout_s)
    )
    fanout["cpu"] = cpu.result()
    how = (
        f"jobs of {steps} fake steps x {SSE_STEP_DELAY_S * 1000:g} ms run back to back "
        "by the one worker, started once every client follows its job and warmed by one "
        "unfollowed job first"
        if stack
        else "jobs run by the server's worker; only events after a client connected count"
    )
    fanout["how"] = how
    click.echo(
        f"\nSSE fan-out: {fanout['clients']} clients on ONE API process, "
        f"{fanout['clients_per_job']} per job, {fanout['jobs']} jobs ({how})"
    )
    click.echo(
        f"  delivery latency       p50 {fanout['delivery_p50_ms']} ms / "
        f"p99 {fanout['delivery_p99_ms']} ms (max {fanout['delivery_max_ms']} ms) over "
        f"{fanout['live_deliveries']} live deliveries   target p99 ≤ 100 ms"
    )
    click.echo(f"    = {DELIVERY_DEFINITION}")
    if not fanout["live_deliveries"]:
        click.echo(
            "  no live event: the jobs ended before their clients connected (a worker with "
            "no step delay); raise --sse-steps or use a slower runner"
        )
    click.echo(
        f"  {fanout['clients_ended']}/{fanout['clients']} streams reached `end`; "
        f"{fanout['clients_with_gaps_or_duplicates']} with a gap or duplicate; "
        f"all connected in {fanout['connect_all_s']} s"
    )
    click.echo(cpu_line(fanout["cpu"]))
    return fanout
