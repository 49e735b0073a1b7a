from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dreamforge_core.domain.artifact import Artifact
from dreamforge_core.domain.clock import parse_iso
from dreamforge_core.domain.events import Event
from dreamforge_core.domain.job import Job, JobState
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.errors import FieldError, InvalidInput, NotFound
from dreamforge_core.ports.blob_store import BlobStore, SignedUrl
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.model_registry import ModelRegistry


def _int_query(name: str, value: int | None, lo: int) -> int | None:
    if value is not None and value < lo:
        raise InvalidInput.for_fields([FieldError(name, f"must be an integer >= {lo}")])
    return value


def _time_query(name: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise InvalidInput.for_fields(
            [FieldError(name, "must be an ISO 8601 timestamp, e.g. 2026-01-31T12:00:00Z")]
        ) from None


@dataclass(frozen=True, slots=True)
class ArtifactLimits:
    default_ttl_s: int
    max_ttl_s: int


class JobQueries:
    """Read side of jobs: status, artifacts with signed URLs, logs, event replay.

    Rules: an unknown job id raises NotFound; `tail` is >= 0 and `since_ts` an ISO 8601
    time (else InvalidInput); `ttl` is >= 1, clamped to the configured maximum; artifacts
    of a failed batch are listed too.
    """

    def __init__(self, repo: JobRepo, blobs: BlobStore, limits: ArtifactLimits) -> None:
        self._repo = repo
        self._blobs = blobs
        self._limits = limits

    def job(self, job_id: str) -> Job:
        job = self._repo.get(job_id)
        if job is None:
            raise NotFound.job(job_id)
        return job

    def job_with_position(self, job_id: str) -> tuple[Job, int | None]:
        job = self.job(job_id)
        return job, self.queue_position(job)

    def queue_position(self, job: Job) -> int | None:
        """While the job is queued, how many jobs of its queue start before it (0: next).
        Exact with one worker; with several, the jobs before it start in that order, and
        it starts once as many workers as are busy have taken theirs."""
        return self._repo.jobs_ahead(job) if job.state is JobState.QUEUED else None

    def artifacts(
        self, job_id: str, ttl: int | None, base_url: str
    ) -> list[tuple[Artifact, SignedUrl]]:
        """Each artifact of the job with a URL that expires after `ttl` seconds."""
        ttl_s = _int_query("ttl", ttl, 1) or self._limits.default_ttl_s
        ttl_s = min(ttl_s, self._limits.max_ttl_s)
        self.job(job_id)
        return [
            (artifact, self._blobs.presign(artifact.key, ttl_s, base_url))
            for artifact in self._repo.artifacts(job_id)
        ]

    def logs(self, job_id: str, tail: int | None, since_ts: str | None) -> list[Event]:
        n = _int_query("tail", tail, 0)
        since = _time_query("since_ts", since_ts)
        self.job(job_id)
        if n is not None:
            return self._repo.last_events(job_id, n, since=since)
        return self._repo.events(job_id, since=since)

    def events_after(self, job_id: str, seq: int) -> list[Event]:
        return self._repo.events(job_id, after_seq=seq)


class ModelQueries:
    """Read side of the model registry. Rules: an unknown id raises NotFound."""

    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry

    def list(self, include_disabled: bool) -> list[ModelDescriptor]:
        return self._registry.list(include_disabled=include_disabled)

    def get(self, model_id: str) -> ModelDescriptor:
        model = self._registry.get(model_id)
        if model is None:
            raise NotFound(f"no model with id {model_id!r}", details={"model_id": model_id})
        return model
