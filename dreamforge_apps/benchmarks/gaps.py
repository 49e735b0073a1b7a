"""The gap between jobs of a busy worker, from the jobs' own timestamps.

A job's `started_at` minus the `finished_at` of the job that ran before it, counted only
where the later job was already queued when the earlier one ended (otherwise the worker was
idle, and the figure would be a pickup, not a gap). One worker thread is assumed: jobs are
paired in the order they started. A pair that overlaps (a job interrupted by a worker kill,
finished after a takeover) is not a gap and is left out.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from itertools import pairwise
from typing import Any

import click
import httpx

Times = tuple[datetime, datetime, datetime]  # created, started, finished


def gap_figures(jobs: Iterable[Times]) -> dict[str, Any]:
    ordered = sorted(jobs, key=lambda times: times[1])
    gaps = sorted(
        (later[1] - earlier[2]).total_seconds() * 1000
        for earlier, later in pairwise(ordered)
        if later[0] <= earlier[2] <= later[1]
    )
    if not gaps:
        return {"gaps": 0}

    def pct(q: float) -> float:
        return round(gaps[min(len(gaps) - 1, int(q * len(gaps)))], 2)

    return {
        "gaps": len(gaps),
        "gap_p50_ms": pct(0.5),
        "gap_p99_ms": pct(0.99),
        "gap_max_ms": pct(1),
    }


def measure_backlog(url: str, jobs: int, timeout_s: float = 600) -> dict[str, Any]:
    """Queues `jobs` small jobs at once on the server at `url`, waits for all, measures."""
    body = {"params": {"prompt": "bench: gaps", "width": 64, "height": 64, "steps": 2}}
    with httpx.Client(base_url=url, timeout=30) as http:
        ids = [
            http.post("/v1/jobs", json=body).raise_for_status().json()["id"] for _ in range(jobs)
        ]
        deadline = time.monotonic() + timeout_s
        found: list[Times] = []
        for job_id in ids:
            while True:
                job = http.get(f"/v1/jobs/{job_id}").raise_for_status().json()
                if job["state"] in ("succeeded", "failed"):
                    break
                if time.monotonic() > deadline:
                    raise click.ClickException(f"job {job_id} did not finish in {timeout_s:g} s")
                time.sleep(0.05)
            found.append(
                (
                    datetime.fromisoformat(job["created_at"]),
                    datetime.fromisoformat(job["started_at"]),
                    datetime.fromisoformat(job["finished_at"]),
                )
            )
    return {"jobs": jobs, **gap_figures(found)}


def gap_line(figures: dict[str, Any]) -> str:
    if not figures.get("gaps"):
        return "  gap between jobs       no job waited for another"
    return (
        f"  gap between jobs       p50 {figures['gap_p50_ms']} ms / p99 {figures['gap_p99_ms']} "
        f"ms (max {figures['gap_max_ms']} ms) over {figures['gaps']} back-to-back starts"
        "   target p50 ≤ 5 ms, p99 ≤ 20 ms"
    )
