"""A server of either deployment for a benchmark: `dreamforge serve`, or a stack (its API and
one worker) on the services the environment names, each with the fake runner."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dreamforge_apps.benchmarks.api import embedded_server
from dreamforge_apps.benchmarks.stack_processes import started_stack
from dreamforge_apps.client import DreamForgeClient


@contextmanager
def deployment_server(
    deployment: str, env: dict[str, str], *, step_delay_s: float, prefix: str
) -> Iterator[str]:
    """The server's URL; `step_delay_s` is the fake runner's time per step."""
    env = {"DREAMFORGE_FAKE_STEP_DELAY_S": str(step_delay_s), **env}
    if deployment == "embedded":
        with embedded_server(env) as url:
            yield url
        return
    with started_stack(prefix, **env) as stack:
        stack.migrate()
        url = stack.start_api()
        stack.start_worker(step_delay_s)
        yield url


def job_to_end(
    client: DreamForgeClient, params: dict[str, Any]
) -> tuple[float, dict[str, Any], list[dict[str, Any]]]:
    """One job over HTTP: seconds from POST to its stream's `end`, the job as it ended, and
    the events the stream carried."""
    started = time.perf_counter()
    job = client.create_job(params)
    events = [e.data for e in client.stream(job["id"])]
    return time.perf_counter() - started, client.job(job["id"]), events
