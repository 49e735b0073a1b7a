"""NFR-020: process log lines written while a job runs carry its step id."""

from __future__ import annotations

from dreamforge_adapters.memory import RecordingLogContext
from dreamforge_core.domain.job import JobState
from dreamforge_core.ports.runner import GenerationRequest

from .conftest import Harness


def test_the_step_id_is_bound_while_the_job_runs_and_only_then(harness: Harness) -> None:
    log_context = harness.ports.log_context
    assert isinstance(log_context, RecordingLogContext)
    job = harness.create(count=2).job
    seen: list[dict[str, str]] = []

    def observe(_: GenerationRequest) -> None:
        seen.append(dict(log_context.current))

    harness.runner.before_generate = observe
    harness.execute(job.id)

    assert harness.job(job.id).state is JobState.SUCCEEDED
    assert seen == [{"step_id": job.step.id}] * 2
    assert log_context.current == {}
