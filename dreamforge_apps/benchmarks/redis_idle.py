"""Phase 1 of `dreamforge bench stack`: Redis load of an idle worker (started stack only)."""

from __future__ import annotations

import time
from typing import Any

import click

from dreamforge_apps.benchmarks.machine import CpuWatch, cpu_line
from dreamforge_apps.benchmarks.stack_processes import StackUnderTest


def _redis_counters(client: Any) -> tuple[float, int, int]:
    cpu = client.info("cpu")
    stats = client.info("stats")
    evals = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    return (
        float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
        int(stats["total_commands_processed"]),
        int(evals),
    )


def _redis_rates(client: Any, seconds: float) -> dict[str, float]:
    cpu0, cmds0, evals0 = _redis_counters(client)
    t0 = time.monotonic()
    time.sleep(seconds)
    cpu1, cmds1, evals1 = _redis_counters(client)
    wall = time.monotonic() - t0
    return {
        "commands_per_s": round((cmds1 - cmds0) / wall, 1),
        "evalsha_per_s": round((evals1 - evals0) / wall, 1),
        "cpu_percent_of_a_core": round(100 * (cpu1 - cpu0) / wall, 2),
    }


def measure_idle(stack: StackUnderTest, seconds: float) -> dict[str, Any]:
    """Redis load server-wide, API alone and then with the worker idle; the difference is
    the idle worker's polling (other clients of the same Redis add noise to both)."""
    import redis

    client = redis.Redis.from_url(stack.env["DREAMFORGE_REDIS_URL"])
    try:
        without = _redis_rates(client, seconds)
        stack.start_worker(0.0)
        time.sleep(1.0)  # let start-up traffic pass and the poll backoff reach its maximum
        cpu = CpuWatch(stack.pids())
        with_worker = _redis_rates(client, seconds)
        watched = cpu.result()
    finally:
        client.close()
    return {
        "worker_poll_ms": stack.poll_ms,
        "seconds": seconds,
        "redis_without_worker": without,
        "redis_with_idle_worker": with_worker,
        "worker_share_commands_per_s": round(
            with_worker["commands_per_s"] - without["commands_per_s"], 1
        ),
        "worker_share_evalsha_per_s": round(
            with_worker["evalsha_per_s"] - without["evalsha_per_s"], 1
        ),
        "worker_share_redis_cpu_percent": round(
            with_worker["cpu_percent_of_a_core"] - without["cpu_percent_of_a_core"], 2
        ),
        "idle_worker_cpu_percent": round(100 * watched["cpus_by_process"].get("worker", 0.0), 2),
        "cpu": watched,
    }


def phase_idle(stack: StackUnderTest, idle_s: float) -> dict[str, Any]:
    stack.stop_worker()
    idle = measure_idle(stack, idle_s)
    w, wo = idle["redis_with_idle_worker"], idle["redis_without_worker"]
    click.echo(
        f"\nidle worker (poll {stack.poll_ms} ms): Redis, server-wide, {idle_s:g} s each "
        "without and with it"
    )
    click.echo(
        f"  API alone              {wo['commands_per_s']} commands/s "
        f"({wo['evalsha_per_s']} EVALSHA/s), Redis CPU {wo['cpu_percent_of_a_core']}% of a core"
    )
    click.echo(
        f"  + idle worker          {w['commands_per_s']} commands/s "
        f"({w['evalsha_per_s']} EVALSHA/s), Redis CPU {w['cpu_percent_of_a_core']}% of a core"
    )
    click.echo(
        f"  the worker's share     {idle['worker_share_commands_per_s']} commands/s "
        f"({idle['worker_share_evalsha_per_s']} EVALSHA/s), Redis CPU "
        f"{idle['worker_share_redis_cpu_percent']}% of a core; the worker process itself "
        f"{idle['idle_worker_cpu_percent']}% of a core (other clients of this Redis add noise)"
    )
    click.echo(cpu_line(idle["cpu"]))
    return idle
