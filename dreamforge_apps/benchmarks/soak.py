"""`dreamforge bench soak`: many jobs through the production stack while its worker is killed.

It starts `dreamforge api` and `dreamforge worker` (fake runner, no step delay) on the
services the environment names (see stack_processes), warms them up, then has several clients
submit `--jobs` jobs (every `MULTI_EVERY`th of count 3, the rest of count 1). Each time a
further share of the jobs has succeeded, it kills the worker with SIGKILL and starts a new
one (`--kills` times). At the end it reads the database: every job must have succeeded, once
(one `job_succeeded` event) and with exactly `count` artifacts. It prints throughput and the
resident memory of the API and of each worker process, and fails on a lost or doubly
completed job.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import httpx

from dreamforge_apps.benchmarks.gaps import gap_figures, gap_line
from dreamforge_apps.benchmarks.machine import machine_facts
from dreamforge_apps.benchmarks.soak_audit import audit_jobs, job_states, job_times, running_job
from dreamforge_apps.benchmarks.stack_processes import StackUnderTest, rss_mib, started_stack

MULTI_EVERY = 20  # one job in 20 is a batch of 3 images
WARM_UP_JOBS = 50
SAMPLE_EVERY_S = 2.0
RESTART_WARM_UP_S = 5.0
STALL_S = 180.0
KILL_WAIT_S = 10.0  # no job finished for this long: the run has failed
# Takeover of a killed worker's job within seconds, not the production minute or two.
SOAK_SETTINGS = {
    "DREAMFORGE_FAKE_STEP_DELAY_S": "0",
    "DREAMFORGE_LEASE_S": "10",
    "DREAMFORGE_SWEEP_INTERVAL_S": "2",
    "DREAMFORGE_WORKER_HEARTBEAT_TIMEOUT_S": "5",
}


def body(i: int) -> dict[str, Any]:
    count = 3 if i % MULTI_EVERY == MULTI_EVERY - 1 else 1
    params = {"prompt": f"soak {i}", "width": 64, "height": 64, "steps": 2, "count": count}
    return {"params": params}


@dataclass
class Memory:
    """RSS samples of one process: (seconds since the soak began, MiB)."""

    role: str
    pid: int
    warm_from: float = 0.0  # a restarted worker's first seconds are its start-up, not its start
    samples: list[tuple[float, float]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        warm = [(t, mib) for t, mib in self.samples if t >= self.warm_from] or self.samples
        values = [mib for _, mib in warm]
        return {
            "role": self.role,
            "pid": self.pid,
            "rss_start_mib": values[0] if values else None,
            "rss_end_mib": values[-1] if values else None,
            "rss_peak_mib": max(values) if values else None,
            "seconds": round(warm[-1][0] - warm[0][0], 1) if values else 0,
        }


class MemoryWatch:
    """Samples the RSS of the API and of whichever worker runs, from a thread."""

    def __init__(self, stack: StackUnderTest) -> None:
        self.stack = stack
        self.began = time.monotonic()
        self.processes: dict[int, Memory] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        now = round(time.monotonic() - self.began, 1)
        for role, proc in (("api", self.stack.api), ("worker", self.stack.worker)):
            if proc is None:
                continue
            mib = rss_mib(proc.pid)
            if mib is None:
                continue
            if proc.pid not in self.processes:
                warm_from = now + RESTART_WARM_UP_S if self.processes else 0.0
                self.processes[proc.pid] = Memory(role, proc.pid, warm_from)
            self.processes[proc.pid].samples.append((now, mib))

    def _run(self) -> None:
        while not self.stop.wait(SAMPLE_EVERY_S):
            self.sample()


async def submit(url: str, jobs: int, clients: int) -> tuple[list[str], list[str], float]:
    """Posts the jobs over `clients` keep-alive connections: (job ids, failures, seconds)."""
    ids: list[str] = []
    failures: list[str] = []
    numbers = iter(range(jobs))
    began = time.perf_counter()

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            for i in numbers:
                try:
                    answer = await http.post("/v1/jobs", json=body(i))
                except httpx.HTTPError as e:
                    failures.append(f"job {i}: {e!r}")
                    continue
                if answer.status_code != 202:
                    failures.append(f"job {i}: {answer.status_code} {answer.text[:200]}")
                    continue
                ids.append(answer.json()["id"])

    await asyncio.gather(*(client() for _ in range(clients)))
    return ids, failures, time.perf_counter() - began


def run_soak(jobs: int, clients: int, kills: int, json_out: Path | None) -> None:
    machine = machine_facts()
    click.echo(
        f"machine: {machine['cpus']} x {machine['cpu_model']}, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}; load avg at start {machine['loadavg_at_start']}"
    )
    with started_stack("dreamforge-soak-", **SOAK_SETTINGS) as stack:
        click.echo(f"migrate: {stack.migrate()}")
        url = stack.start_api()
        stack.start_worker(0.0)
        settings = ", ".join(
            f"{k.removeprefix('DREAMFORGE_')}={v}" for k, v in SOAK_SETTINGS.items()
        )
        click.echo(f"stack: api at {url} + worker, fake runner; {settings}")
        warm_up = Posting(WARM_UP_JOBS)
        warm_up.run(url, clients)
        if warm_up.failures:
            raise click.ClickException(f"warm-up submissions failed: {warm_up.failures[:3]}")
        _drive(stack, warm_up, kill_at=[])
        report = _soak(stack, url, jobs, clients, kills)
        report["machine"] = machine
    _print(report)
    if json_out:
        json_out.write_text(json.dumps(report, indent=2))
        click.echo(f"figures written to {json_out}")
    if report["lost"] or report["doubly_completed"] or report["submit_failures"]:
        raise click.ClickException("the soak lost, failed or doubly completed jobs")


@dataclass
class Posting:
    """The soak's submissions, filled in by the submitting thread."""

    expected: int
    ids: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)

    def run(self, url: str, clients: int) -> None:
        try:
            self.ids, self.failures, self.seconds = asyncio.run(submit(url, self.expected, clients))
        finally:
            self.done.set()


def _soak(stack: StackUnderTest, url: str, jobs: int, clients: int, kills: int) -> dict[str, Any]:
    memory = MemoryWatch(stack)
    memory.sample()  # the warmed-up processes' start figures
    memory.thread.start()
    began = time.monotonic()
    posting = Posting(jobs)
    threading.Thread(target=posting.run, args=(url, clients), daemon=True).start()
    kill_at = [WARM_UP_JOBS + jobs * (k + 1) // (kills + 1) for k in range(kills)]
    restarts = _drive(stack, posting, kill_at, offset=WARM_UP_JOBS)
    wall_s = time.monotonic() - began
    memory.sample()
    memory.stop.set()
    audit = audit_jobs(stack.env["DREAMFORGE_DATABASE_URL"], posting.ids)
    gaps = gap_figures(job_times(stack.env["DREAMFORGE_DATABASE_URL"], posting.ids))
    return {
        "jobs": jobs,
        "clients": clients,
        "images": audit["images_expected"],
        "submitted": len(posting.ids),
        "submit_failures": posting.failures,
        "submit_s": round(posting.seconds, 1),
        "wall_s": round(wall_s, 1),
        "jobs_per_s": round(len(posting.ids) / wall_s, 1),
        "worker_kills": restarts,
        "settings": SOAK_SETTINGS,
        **audit,
        "worker_gap": gaps,
        "memory": [m.summary() for m in memory.processes.values()],
    }


def _drive(stack: StackUnderTest, posting: Posting, kill_at: list[int], offset: int = 0) -> int:
    """Waits until every submitted job is finished (succeeded or failed), killing the worker
    and starting a new one each time the finished count passes the next of `kill_at`.
    Returns the number of kills."""
    dsn = stack.env["DREAMFORGE_DATABASE_URL"]
    kills, last_done, last_change = 0, -1, time.monotonic()
    while True:
        states = job_states(dsn)
        done = states.get("succeeded", 0) + states.get("failed", 0)
        if kill_at and done >= kill_at[0]:
            kill_at.pop(0)
            hit = running_job(dsn, KILL_WAIT_S)  # kill while a job runs, to test takeover
            stack.kill_worker()
            stack.start_worker(0.0)
            kills += 1
            during = f"job {hit} running" if hit else f"no job seen running in {KILL_WAIT_S:g} s"
            click.echo(f"  SIGKILL to the worker at {done - offset} jobs finished ({during})")
        if posting.done.is_set() and done >= offset + len(posting.ids):
            return kills
        if done != last_done:
            last_done, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > STALL_S:
            raise click.ClickException(f"no job finished for {STALL_S:g} s: {states}")
        time.sleep(0.5)


def _print(report: dict[str, Any]) -> None:
    click.echo(
        f"\nsoak: {report['submitted']}/{report['jobs']} jobs ({report['images']} images) "
        f"from {report['clients']} clients, worker killed {report['worker_kills']} times"
    )
    click.echo(f"  wall time              {report['wall_s']} s (submitting {report['submit_s']} s)")
    click.echo(f"  throughput             {report['jobs_per_s']} jobs/s end to end")
    click.echo(
        f"  succeeded              {report['succeeded']}; lost {report['lost']} "
        f"(states {report['states']})"
    )
    click.echo(
        f"  doubly completed       {report['doubly_completed']} (jobs without exactly one "
        f"job_succeeded event, or whose artifacts differ from their count)"
    )
    click.echo(f"  requeued after a kill  {report['requeued_jobs']} jobs")
    click.echo(gap_line(report["worker_gap"]))
    if report["submit_failures"]:
        click.echo(f"  submit failures        {len(report['submit_failures'])}, e.g.")
        for line in report["submit_failures"][:3]:
            click.echo(f"    {line}")
    click.echo(
        "  resident memory (MiB; start = after warm-up, or 5 s after a restart; end = last sample):"
    )
    for m in report["memory"]:
        click.echo(
            f"    {m['role']:6} pid {m['pid']:<8} start {m['rss_start_mib']}  end "
            f"{m['rss_end_mib']}  peak {m['rss_peak_mib']}  over {m['seconds']} s"
        )
