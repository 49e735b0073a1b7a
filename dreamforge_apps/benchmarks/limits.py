"""`dreamforge bench limits`: what the limits per API key cost `POST /v1/jobs`.

The same load runs against a server with the limits off and one with both limits on but so
high that nothing is refused: the difference is the cost of checking them (an indexed count
of the caller's active jobs, and in the stack one Redis round trip for the per-minute
counter). The runs alternate, off, on, off, on, so that a drift of the machine falls on both.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import click

from dreamforge_apps.benchmarks.api import _load, post_figures
from dreamforge_apps.benchmarks.machine import machine_facts
from dreamforge_apps.benchmarks.servers import deployment_server
from dreamforge_apps.benchmarks.stack_target import run_async

#: Limits that are checked on every creation and never reached, by name.
UNREACHABLE = {
    "per-minute": {"DREAMFORGE_RATE_LIMIT_PER_MIN": str(10**9)},
    "active": {"DREAMFORGE_MAX_ACTIVE_JOBS_PER_KEY": str(10**9)},
}
#: The worker stands in for a GPU that is busy: jobs pile up queued, as under real load.
WORKER_STEP_DELAY_S = "0.02"


def _measure(url: str, total: int, concurrency: int) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")

    async def load() -> tuple[list[float], float]:
        await _load(host, int(port), min(500, total), concurrency)  # warm-up
        return await _load(host, int(port), total, concurrency)

    latencies, elapsed = run_async(load())
    return post_figures(latencies, elapsed, concurrency)


def run_bench_limits(
    deployment: str,
    total: int,
    concurrency: int,
    rounds: int,
    limits: tuple[str, ...],
    json_out: Path | None,
) -> None:
    machine = machine_facts()
    click.echo(
        f"machine: {machine['cpus']} x {machine['cpu_model']}, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}; {deployment}, fake runner ({WORKER_STEP_DELAY_S} s steps)"
    )
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for n in range(rounds):
        on = {name: value for limit in limits for name, value in UNREACHABLE[limit].items()}
        for state, env in (("off", {}), ("on", on)):
            with deployment_server(
                deployment,
                env,
                step_delay_s=float(WORKER_STEP_DELAY_S),
                prefix="dreamforge-bench-limits-",
            ) as url:
                figures = _measure(url, total, concurrency)
            runs[state].append(figures)
            click.echo(
                f"  round {n + 1}, limits {state:3}: {figures['creations_per_s']:>8} creations/s, "
                f"p50 {figures['post_p50_ms']} ms, p99 {figures['post_p99_ms']} ms"
            )
    off_rate = round(statistics.median(r["creations_per_s"] for r in runs["off"]), 1)
    on_rate = round(statistics.median(r["creations_per_s"] for r in runs["on"]), 1)
    ratio = round(on_rate / off_rate, 3) if off_rate else None
    click.echo(
        f"POST /v1/jobs, {total} requests over {concurrency} connections, median of {rounds}, "
        f"limits on: {' and '.join(limits)}: off {off_rate} creations/s, on {on_rate} "
        f"creations/s, on/off {ratio}"
    )
    if json_out:
        report = {
            "machine": machine,
            "deployment": deployment,
            "limits": list(limits),
            "runs": runs,
            "ratio": ratio,
        }
        json_out.write_text(json.dumps(report, indent=2))
