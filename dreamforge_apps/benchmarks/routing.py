"""`dreamforge bench routing`: model loads per 100 jobs with model routing on and off.

For each mode it starts `dreamforge api` and `--workers` workers (fake runner, a simulated
model load of `--load-s`, ADR 0034) on the services the environment names, registers a
second fake model, and sends `--jobs` jobs that alternate between the two models, one every
`--interval-ms` (0: all at once). It counts the loads in the workers' own metrics
(`dreamforge_model_load_seconds_count`), and reports the wall time from the first submission
to the last job's end and how long jobs waited in the queue (created → started). Routing is
on with DREAMFORGE_ROUTING_MAX_WAIT_S at `--max-wait-s`, off with it at 0.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx

from dreamforge_adapters.postgres import PostgresDatabase, PostgresModelRegistry
from dreamforge_apps.benchmarks.machine import machine_facts
from dreamforge_apps.benchmarks.stack_processes import StackUnderTest
from dreamforge_apps.client import DreamForgeClient
from dreamforge_apps.models import FAKE_MODEL_ID, fake_model

SECOND_MODEL_ID = "fake-sdxl-b"
_LOADS = re.compile(r"^dreamforge_model_load_seconds_count(?:\{[^}]*\})? (\S+)$", re.M)
#: Small, quick jobs: what is measured is where they run, not how long they take.
JOB_PARAMS = {"prompt": "routing", "width": 64, "height": 64, "steps": 3}


def add_fake_model(dsn: str, model_id: str = SECOND_MODEL_ID) -> str:
    """Registers one more model that the fake runner serves (no weights), by id."""
    with PostgresDatabase(dsn, max_size=1) as database:
        model = fake_model(datetime.now(UTC))
        PostgresModelRegistry(database).upsert(replace(model, id=model_id, name=model_id))
    return model_id


def model_loads(worker_urls: list[str]) -> int:
    """Model loads so far, summed over the workers' /metrics."""
    total = 0.0
    for url in worker_urls:
        text = httpx.get(f"{url}/metrics", timeout=10).text
        total += sum(float(v) for v in _LOADS.findall(text))
    return int(total)


def send_alternating(
    client: DreamForgeClient, jobs: int, interval_s: float, models: tuple[str, str]
) -> list[str]:
    """Creates `jobs` jobs, model A, B, A, B…, one every `interval_s`; returns their ids."""
    ids = []
    for n in range(jobs):
        ids.append(client.create_job(JOB_PARAMS, model_id=models[n % 2])["id"])
        if interval_s > 0:
            time.sleep(interval_s)
    return ids


def wait_all(client: DreamForgeClient, ids: list[str], timeout_s: float) -> list[dict[str, Any]]:
    """The jobs once each has finished (or `timeout_s` ran out: then as they stand)."""
    deadline = time.monotonic() + timeout_s
    done: list[dict[str, Any]] = []
    for job_id in ids:
        job = client.job(job_id)
        while job["state"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.05)
            job = client.job(job_id)
        done.append(job)
    return done


def queue_waits_s(jobs: list[dict[str, Any]]) -> list[float]:
    return [
        (
            datetime.fromisoformat(j["started_at"]) - datetime.fromisoformat(j["created_at"])
        ).total_seconds()
        for j in jobs
        if j.get("started_at")
    ]


def _measure(options: dict[str, Any], max_wait_s: float, work_dir: Path) -> dict[str, Any]:
    work_dir.mkdir(parents=True)
    stack = StackUnderTest(
        work_dir,
        DREAMFORGE_ROUTING_MAX_WAIT_S=str(max_wait_s),
        DREAMFORGE_FAKE_LOAD_S=str(options["load_s"]),
        DREAMFORGE_FAKE_STEP_DELAY_S=str(options["step_delay_s"]),
        DREAMFORGE_WARM_MODELS="1",
    )
    try:
        stack.migrate()
        add_fake_model(stack.env["DREAMFORGE_DATABASE_URL"])
        client = DreamForgeClient(stack.start_api())
        workers = [stack.add_worker() for _ in range(options["workers"])]
        began = time.monotonic()
        ids = send_alternating(
            client, options["jobs"], options["interval_ms"] / 1000, (FAKE_MODEL_ID, SECOND_MODEL_ID)
        )
        jobs = wait_all(client, ids, timeout_s=600)
        seconds = time.monotonic() - began
        loads = model_loads(workers)
    finally:
        stack.stop()
        stack.clean_up()
    waits = queue_waits_s(jobs)
    return {
        "routing_max_wait_s": max_wait_s,
        "jobs": len(jobs),
        "succeeded": sum(j["state"] == "succeeded" for j in jobs),
        "model_loads": loads,
        "loads_per_100_jobs": round(100 * loads / max(1, len(jobs)), 1),
        "seconds": round(seconds, 2),
        "queue_wait_p50_s": round(statistics.median(waits), 3) if waits else None,
        "queue_wait_max_s": round(max(waits), 3) if waits else None,
    }


def run_bench_routing(json_out: Path | None, **options: Any) -> None:
    machine = machine_facts()
    click.echo(
        f"machine: {machine['cpus']} x {machine['cpu_model']}; {options['workers']} workers, "
        f"{options['jobs']} jobs alternating between 2 models every {options['interval_ms']} "
        f"ms, fake load {options['load_s']} s, fake step {options['step_delay_s']} s x "
        f"{JOB_PARAMS['steps']}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="dreamforge-bench-routing-") as tmp:
        for label, max_wait_s in (("on", options["max_wait_s"]), ("off", 0.0)):
            result = _measure(options, max_wait_s, Path(tmp) / label)
            results.append({"routing": label, **result})
            click.echo(
                f"routing {label:>3} (max wait {max_wait_s:g} s): "
                f"{result['loads_per_100_jobs']} model loads per 100 jobs "
                f"({result['model_loads']} for {result['jobs']}, {result['succeeded']} "
                f"succeeded), {result['seconds']} s in all, queue wait p50 "
                f"{result['queue_wait_p50_s']} s, max {result['queue_wait_max_s']} s"
            )
    if json_out is not None:
        json_out.write_text(json.dumps({"machine": machine, "runs": results}, indent=2))
