"""What the soak reads back from Postgres: job states, and per job whether it ran to
completion exactly once (one `job_succeeded` event, `count` artifacts, one per item)."""

from __future__ import annotations

import time
from typing import Any

import psycopg

_STATES = "SELECT state, count(*) FROM jobs GROUP BY state"
_AUDIT = """
SELECT j.id, j.state, j.count,
    (SELECT count(*) FROM events e WHERE e.job_id = j.id AND e.code = 'job_succeeded'),
    (SELECT count(*) FROM events e WHERE e.job_id = j.id AND e.code = 'job_requeued'),
    (SELECT count(*) FROM artifacts a WHERE a.job_id = j.id),
    (SELECT count(DISTINCT a.item_index) FROM artifacts a WHERE a.job_id = j.id)
FROM jobs j WHERE j.id = ANY(%s)
"""


def job_states(dsn: str) -> dict[str, int]:
    """Jobs by state, across the whole database."""
    with psycopg.connect(dsn) as conn:
        return {state: int(n) for state, n in conn.execute(_STATES).fetchall()}


def running_job(dsn: str, wait_s: float) -> str | None:
    """The id of a job in `running`, polled for up to `wait_s` (a fake job runs for a few
    milliseconds, so it takes many looks); None if none was seen."""
    deadline = time.monotonic() + wait_s
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT id FROM jobs WHERE state = 'running' LIMIT 1").fetchone()
            if row is not None:
                return str(row[0])
            time.sleep(0.002)
    return None


def audit_jobs(dsn: str, ids: list[str]) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(_AUDIT, (ids,)).fetchall()
    states: dict[str, int] = {}
    doubly: list[str] = []
    requeued = succeeded = images = 0
    for job_id, state, count, succeeded_events, requeues, artifacts, items in rows:
        states[state] = states.get(state, 0) + 1
        images += count
        requeued += requeues > 0
        if state == "succeeded":
            succeeded += 1
        completed_once = succeeded_events == 1 and artifacts == items == count
        if (state == "succeeded" and not completed_once) or succeeded_events > 1:
            doubly.append(
                f"{job_id}: {succeeded_events} job_succeeded events, {artifacts} artifacts "
                f"for {items} items of {count}"
            )
    return {
        "succeeded": succeeded,
        "lost": len(ids) - succeeded,  # missing, failed or unfinished
        "states": states,
        "missing_rows": len(ids) - len(rows),
        "doubly_completed": len(doubly),
        "doubly_completed_examples": doubly[:5],
        "requeued_jobs": requeued,
        "images_expected": images,
    }


def job_times(dsn: str, ids: list[str]) -> list[tuple[Any, Any, Any]]:
    """(created_at, started_at, finished_at) of each finished job, for the gap figures."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT created_at, started_at, finished_at FROM jobs "
            "WHERE id = ANY(%s) AND started_at IS NOT NULL AND finished_at IS NOT NULL",
            (ids,),
        ).fetchall()
    return [tuple(row) for row in rows]
