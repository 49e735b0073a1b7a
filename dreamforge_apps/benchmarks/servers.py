"""A server of either deployment for a benchmark: `dreamforge serve`, or a stack (its API and
one worker) on the services the environment names, each with the fake runner."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dreamforge_apps.benchmarks.api import embedded_server
from dreamforge_apps.benchmarks.stack_processes import started_stack


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
