"""Phase 2 of `dreamforge bench stack`: one job at a time to an idle worker; submit→running
and the per-job service overhead."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click

from dreamforge_apps.benchmarks.api import BODY, pct_ms
from dreamforge_apps.benchmarks.machine import CpuWatch, cpu_line
from dreamforge_apps.benchmarks.sse_client import post_job, request_stream
from dreamforge_apps.benchmarks.stack_target import Target, run_async

#: Between two latency samples the worker sits idle this long, so its poll backoff is at
#: its maximum (Dramatiq grows it from 5 ms up to the poll interval) as for a quiet service.
IDLE_GAP_S = (0.25, 0.45)
OVERHEAD_DEFINITION = (
    "per job, one at a time, idle worker, fake runner with no step delay (64x64, 4 steps): "
    "time from sending POST /v1/jobs to receiving the job's `end` event on its SSE stream, "
    "minus the runner's own time (FakeRunner.generate with the same parameters, timed in the "
    "bench process). What remains is everything but generation: request, insert, enqueue, "
    "idle-worker pickup, claim, every event write and NOTIFY, PNG encode, S3 PUT, final "
    "state, and delivery to the stream."
)
PICKUP_DEFINITION = (
    "time from sending POST /v1/jobs to receiving the job's `state: running` event on its SSE "
    "stream (opened right after the POST answers, on the same connection), idle worker"
)


@dataclass
class Sample:
    post_s: float
    running_seen_s: float
    end_seen_s: float
    created_after_send_s: float  # event ts - send time (wall clock)
    running_after_created_s: float
    end_after_running_s: float
    end_delivery_s: float
    state: str


async def _one_job(host: str, port: int) -> Sample:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        sent_wall, t0 = time.time(), time.perf_counter()
        job_id = await post_job(reader, writer, host, port, BODY)
        posted = time.perf_counter() - t0
        stream = await request_stream(reader, writer, host, job_id)
        stamps: dict[str, tuple[float, float]] = {}  # what → (event ts, when seen)
        running_seen = end_seen = 0.0
        state = ""
        while True:
            frame = await stream.next_frame()
            if frame is None:
                raise click.ClickException(f"the stream of {job_id} ended before the job did")
            seen = time.perf_counter() - t0
            if frame.kind == "state" and frame.data.get("state") == "queued":
                stamps.setdefault("created", (frame.ts, seen))
            if frame.kind == "state" and frame.data.get("state") == "running" and not running_seen:
                running_seen = seen
                stamps["running"] = (frame.ts, seen)
            if frame.kind == "end":
                end_seen = seen
                stamps["end"] = (frame.ts, frame.received)
                state = str(frame.data.get("state"))
                break
    finally:
        writer.close()
    created, running, end = stamps["created"][0], stamps["running"][0], stamps["end"]
    return Sample(
        post_s=posted,
        running_seen_s=running_seen,
        end_seen_s=end_seen,
        created_after_send_s=created - sent_wall,
        running_after_created_s=running - created,
        end_after_running_s=end[0] - running,
        end_delivery_s=end[1] - end[0],
        state=state,
    )


def runner_time_s(calls: int = 200) -> float:
    """Median time of FakeRunner.generate (no step delay) for the bench body's parameters."""
    from dreamforge_adapters.fake_runner import FakeRunner
    from dreamforge_core.domain.model import ModelDescriptor
    from dreamforge_core.domain.params import GenerateParams
    from dreamforge_core.ports.runner import GenerationRequest

    class Quiet:
        def step(self, done: int, total: int) -> None:
            pass

        def note(self, code: str, message: str, data: Any) -> None:
            pass

        def preview(self, step: int, total: int, jpeg: bytes) -> None:
            pass

    now = datetime.now(UTC)
    model = ModelDescriptor("fake", "fake", "fake", "1", now, now, installed=True)
    raw = json.loads(BODY)["params"]
    params = GenerateParams(
        prompt=raw["prompt"], width=raw["width"], height=raw["height"], steps=raw["steps"]
    )
    runner, quiet, times = FakeRunner(0.0), Quiet(), []
    for i in range(calls):
        t0 = time.perf_counter()
        runner.generate(GenerationRequest(f"bench-{i}", 0, model, params, i), quiet)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


async def measure_latency(host: str, port: int, samples: int, runner_s: float) -> dict[str, Any]:
    await _one_job(host, port)  # warm-up: connections, model cache, first S3 PUT
    got: list[Sample] = []
    for _ in range(samples):
        await asyncio.sleep(random.uniform(*IDLE_GAP_S))
        got.append(await _one_job(host, port))
    failed = [s.state for s in got if s.state != "succeeded"]
    overhead = [s.end_seen_s - runner_s for s in got]
    running = [s.running_seen_s for s in got]

    def split(name: str, values: list[float]) -> dict[str, float]:
        return {f"{name}_p50_ms": pct_ms(values, 0.5), f"{name}_p99_ms": pct_ms(values, 0.99)}

    return {
        "samples": samples,
        "not_succeeded": failed,
        "runner_time_ms": round(runner_s * 1000, 3),
        **split("submit_to_running", running),
        "submit_to_running_max_ms": round(max(running) * 1000, 2),
        **split("overhead", overhead),
        "overhead_max_ms": round(max(overhead) * 1000, 2),
        "breakdown": {
            **split("post", [s.post_s for s in got]),
            **split("send_to_created_ts", [s.created_after_send_s for s in got]),
            **split("created_to_running_ts", [s.running_after_created_s for s in got]),
            **split("running_to_end_ts", [s.end_after_running_s for s in got]),
            **split("end_ts_to_seen", [s.end_delivery_s for s in got]),
        },
    }


def phase_latency(target: Target, samples: int) -> dict[str, Any]:
    target.worker(0.0)
    runner_s = runner_time_s()
    cpu = CpuWatch(target.pids())
    latency = run_async(measure_latency(target.host, target.port, samples, runner_s))
    latency["cpu"] = cpu.result()
    b = latency["breakdown"]
    worker = "fake runner, no step delay" if target.stack else "the server's worker"
    click.echo(f"\none job at a time, idle worker ({samples} jobs, {worker})")
    click.echo(
        f"  submit→running seen    p50 {latency['submit_to_running_p50_ms']} ms / "
        f"p99 {latency['submit_to_running_p99_ms']} ms "
        f"(max {latency['submit_to_running_max_ms']} ms)   target p50 ≤ 15 ms"
    )
    click.echo(f"    = {PICKUP_DEFINITION}")
    click.echo(
        f"  service overhead       p50 {latency['overhead_p50_ms']} ms / "
        f"p99 {latency['overhead_p99_ms']} ms (max {latency['overhead_max_ms']} ms)   "
        "target p99 ≤ 20 ms"
    )
    click.echo(f"    = {OVERHEAD_DEFINITION}")
    if target.stack is None:
        click.echo(
            "    (a running API: this means something only if its worker runs the fake runner "
            "with no step delay)"
        )
    click.echo(f"    runner's own time: {latency['runner_time_ms']} ms (median)")
    click.echo("  where it goes (p50 / p99; ts = the events' own timestamps):")
    for label, key in (
        ("POST answered", "post"),
        ("send → job_created ts", "send_to_created_ts"),
        ("created → running ts", "created_to_running_ts"),
        ("running → end ts", "running_to_end_ts"),
        ("end ts → end seen", "end_ts_to_seen"),
    ):
        click.echo(f"    {label:24} {b[key + '_p50_ms']} ms / {b[key + '_p99_ms']} ms")
    if latency["not_succeeded"]:
        click.echo(f"  WARNING: jobs ended {latency['not_succeeded']}")
    click.echo(cpu_line(latency["cpu"]))
    return latency
