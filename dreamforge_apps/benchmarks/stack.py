"""`dreamforge bench stack`: the production stack's figures, measured over HTTP.

Without `--url` it starts `dreamforge api` and `dreamforge worker` itself (fake runner) against
the services the environment names (DREAMFORGE_DATABASE_URL, DREAMFORGE_REDIS_URL,
DREAMFORGE_S3_*): it migrates the database, uses a private Redis namespace and a fresh bucket,
and removes both afterwards (the bench jobs stay in the database: give it a scratch one). With
`--url` it measures a running API and leaves the worker as it is.

Phases, in this order:

1. idle (started stack only): Redis commands/s and CPU with the API alone, then with an idle
   worker polling every DREAMFORGE_WORKER_POLL_MS;
2. one job at a time to an idle worker (fake runner, no step delay): submit→running seen on
   the SSE stream, and the per-job service overhead (see stack_latency.OVERHEAD_DEFINITION);
3. SSE fan-out: many clients on ONE API process, each following one of a few jobs that run
   back to back on the one worker; delivery latency = receipt time - the event's `ts`;
4. POST /v1/jobs throughput and latency (bench_api's client) while the worker runs jobs.

The HTTP client is bench_api's (asyncio, HTTP/1.1 keep-alive); the SSE reader is sse_client's.
Each phase lives in a module of its own (redis_idle, stack_latency, stack_fanout); this one
runs them in order and measures the throughput.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from dreamforge_apps.benchmarks.api import _load, post_figures
from dreamforge_apps.benchmarks.gaps import gap_line, measure_backlog
from dreamforge_apps.benchmarks.machine import CpuWatch, cpu_line, machine_facts
from dreamforge_apps.benchmarks.redis_idle import phase_idle
from dreamforge_apps.benchmarks.stack_fanout import SSE_STEP_DELAY_S, phase_fanout
from dreamforge_apps.benchmarks.stack_latency import phase_latency
from dreamforge_apps.benchmarks.stack_processes import started_stack
from dreamforge_apps.benchmarks.stack_target import Target, run_async


def run_bench_stack(
    url: str | None,
    total: int,
    concurrency: int,
    samples: int,
    sse_clients: int,
    sse_jobs: int,
    sse_steps: int,
    idle_s: float,
    json_out: Path | None,
    backlog_jobs: int = 200,
) -> None:
    machine = machine_facts()
    facts = (
        f"{machine['cpus']} x {machine['cpu_model']}, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, {machine['platform']}"
    )
    click.echo(f"machine: {facts}; load avg at start {machine['loadavg_at_start']}")
    report: dict[str, Any] = {"machine": machine}

    def phases(target: Target) -> None:
        if target.stack is not None and idle_s > 0:
            report["idle"] = phase_idle(target.stack, idle_s)
        if samples > 0:
            report["latency"] = phase_latency(target, samples)
        if backlog_jobs > 0:
            report["backlog"] = _phase_backlog(target, backlog_jobs)
        if sse_clients > 0 and sse_jobs > 0:
            report["sse_fanout"] = phase_fanout(target, sse_clients, sse_jobs, sse_steps)
        if total > 0:
            report["throughput"] = _phase_throughput(target, total, concurrency)

    if url:
        parts = urlsplit(url)
        report["deployment"] = url
        click.echo(f"measuring the running API at {url}; its worker is whatever it runs")
        phases(Target(parts.hostname or "127.0.0.1", parts.port or 80, None))
    else:
        with started_stack("dreamforge-bench-stack-") as stack:
            click.echo(f"migrate: {stack.migrate()}")
            started = stack.start_api()
            report["deployment"] = {
                "started": "dreamforge api (1 process) + dreamforge worker (1 process, 1 thread)",
                "runner": "fake",
                "redis_namespace": stack.namespace,
                "bucket": stack.bucket,
                "worker_poll_ms": stack.poll_ms,
            }
            click.echo(
                f"stack: dreamforge api + dreamforge worker at {started}, fake runner, "
                f"Redis namespace {stack.namespace}, bucket {stack.bucket}, "
                f"worker poll {stack.poll_ms} ms"
            )
            parts = urlsplit(started)
            phases(Target(parts.hostname or "127.0.0.1", parts.port or 80, stack))
    if json_out:
        json_out.write_text(json.dumps(report, indent=2))
        click.echo(f"\nfigures written to {json_out}")


def _phase_backlog(target: Target, jobs: int) -> dict[str, Any]:
    target.worker(0.0)
    click.echo(f"\nbacklog: {jobs} jobs queued at once on one busy worker (fake runner, no delay)")
    figures = measure_backlog(f"http://{target.host}:{target.port}", jobs)
    click.echo(gap_line(figures))
    return figures


def _phase_throughput(target: Target, total: int, concurrency: int) -> dict[str, Any]:
    stack = target.stack
    if stack is not None and stack.worker is None:
        target.worker(SSE_STEP_DELAY_S)
    warm_up = min(500, total)

    async def load() -> tuple[list[float], float]:
        await _load(target.host, target.port, warm_up, concurrency)
        return await _load(target.host, target.port, total, concurrency)

    cpu = CpuWatch(target.pids())
    latencies, elapsed = run_async(load())
    worker = "the server's"
    if stack is not None:
        worker = f"running jobs, fake steps of {(stack.worker_delay_s or 0) * 1000:g} ms"
    throughput: dict[str, Any] = {
        **post_figures(latencies, elapsed, concurrency),
        "warm_up_requests": warm_up,
        "worker": worker,
        "cpu": cpu.result(),
    }
    click.echo(
        f"\nPOST /v1/jobs: {total} requests over {concurrency} keep-alive connections "
        f"(after {warm_up} warm-up), worker {worker}"
    )
    click.echo(f"  creations/s            {throughput['creations_per_s']}")
    click.echo(
        f"  POST latency p50/p99   {throughput['post_p50_ms']} ms / "
        f"{throughput['post_p99_ms']} ms (max {throughput['post_max_ms']} ms)"
    )
    click.echo(cpu_line(throughput["cpu"]))
    return throughput
