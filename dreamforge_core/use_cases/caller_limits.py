"""Limits per API key on job creation, so that one client cannot starve the others: creations
per minute and jobs queued or running at once (0 switches each off). Without API keys the
server is one caller, and the limits are the server's."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dreamforge_core.domain.caller import Caller
from dreamforge_core.errors import RateLimited, Unavailable
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.creation_rate import CreationRate
from dreamforge_core.ports.job_repo import JobRepo

#: A caller at its active-jobs limit can create again once one of its jobs finishes; when
#: that is cannot be known, so it is told to look again after this long.
ACTIVE_RETRY_AFTER_S = 5


@dataclass(frozen=True, slots=True)
class Limits:
    per_minute: int = 0  # job creations per caller and minute; 0: no limit
    active_jobs: int = 0  # jobs queued or running per caller; 0: no limit


class CallerLimits:
    def __init__(self, rate: CreationRate, repo: JobRepo, clock: Clock, limits: Limits) -> None:
        self._rate = rate
        self._repo = repo
        self._clock = clock
        self._limits = limits

    def check(self, caller: Caller) -> None:
        """Raises RateLimited when `caller` may not create a job now; else counts the creation.

        The active jobs are counted in the job store, which every API process shares; two
        creations of one caller at the same instant may both pass its last free place."""
        limits, who = self._limits, caller.key_fingerprint
        if (
            limits.active_jobs
            and self._repo.count_active(who, limits.active_jobs) >= limits.active_jobs
        ):
            raise RateLimited(
                f"this API key has {limits.active_jobs} job(s) queued or running, its limit; "
                "create more once one finishes",
                limit="active_jobs",
                retry_after_s=ACTIVE_RETRY_AFTER_S,
            )
        if limits.per_minute:
            try:
                wait = self._rate.take(who, limits.per_minute, self._clock.now().timestamp())
            except Unavailable:
                # Creating jobs matters more than counting them: while the counters are
                # unreachable the per-minute limit is not applied (the job store still is).
                return
            if wait is not None:
                raise RateLimited(
                    f"this API key created {limits.per_minute} job(s) this minute, its limit",
                    limit="creations_per_minute",
                    retry_after_s=max(1, math.ceil(wait)),
                )
