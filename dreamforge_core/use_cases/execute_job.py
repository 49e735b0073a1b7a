from __future__ import annotations

from collections.abc import Mapping

from dreamforge_core.domain.job import GENERATE, Job
from dreamforge_core.domain.presets import DEFAULT_PRESETS, Preset
from dreamforge_core.domain.retry import RetryPolicy
from dreamforge_core.use_cases.attempt import Attempt
from dreamforge_core.use_cases.execution import (
    ExecutionContext,
    ExecutionLimits,
    ExecutionPorts,
)
from dreamforge_core.use_cases.job_executor import JobExecutor

__all__ = ["ExecuteJob", "ExecutionLimits", "ExecutionPorts"]


class ExecuteJob(JobExecutor):
    """Runs one delivery of a `generate` job id (the shared lifecycle is `JobExecutor`'s).

    Rules of a `generate` attempt:
    - the claim is written with the first item's start (a retry, which must clean up first,
      writes it alone);
    - items run in order from the first unfinished one; each item's seed is drawn immediately
      before it starts (a given seed is used only when count is 1); finished items keep their
      artifacts, and blobs a crashed attempt left without an artifact row are deleted;
    - encoding, hashing and storing item N overlap the generation of item N+1, so the runner
      never waits on storage; a failure of either fails the attempt;
    - the generate step of one attempt has `step_timeout_s` in all; past it the item fails
      with `timeout`.
    """

    job_type = GENERATE

    def __init__(
        self,
        ports: ExecutionPorts,
        retry: RetryPolicy,
        *,
        generator: str,
        limits: ExecutionLimits | None = None,
        presets: Mapping[str, Preset] = DEFAULT_PRESETS,
    ) -> None:
        limits = limits or ExecutionLimits()
        super().__init__(ports, retry, limits)
        self._context = ExecutionContext(ports, limits, generator, presets, self._leases)

    def _attempt(self, job: Job) -> Attempt:
        return Attempt(self._context, job)
