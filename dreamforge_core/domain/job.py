"""The Job aggregate: a job, its steps and its batch items, with every transition as a method.

Each transition checks the lifecycle, stamps the time and records an event draft in
`pending_events`; the repository stores job and events in one transaction.

It is one module because an aggregate keeps its invariants in one place: the job, its steps and
its items change only through these methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dreamforge_core.domain.artifact import DEFAULT_USER, Artifact
from dreamforge_core.domain.clock import iso, new_id
from dreamforge_core.domain.download import DownloadParams
from dreamforge_core.domain.events import EventDraft, EventKind
from dreamforge_core.domain.params import GenerateParams
from dreamforge_core.domain.progress import (
    item_progress,
    job_progress,
    stage_weights,
    weighted_progress,
)
from dreamforge_core.domain.upscale import UPSCALE
from dreamforge_core.domain.webhooks import (
    COMPLETED,
    ITEM_COMPLETED,
    STARTED,
    Webhook,
    WebhookDraft,
)
from dreamforge_core.errors import InvalidState, InvalidTransition

SCHEMA_VERSION = 1

GENERATE = "generate"  # images from a prompt, on the GPU queue
MODEL_DOWNLOAD = "model_download"  # a model fetched into the registry, on the IO queue (FR-098)
JOB_TYPES = (GENERATE, MODEL_DOWNLOAD)
#: The first step of each job type; a `generate` job with `upscale` has a second one.
STEP_NAMES = {GENERATE: "generate", MODEL_DOWNLOAD: "download"}

JobParams = GenerateParams | DownloadParams


def params_from_dict(job_type: str, data: dict[str, Any]) -> JobParams:
    """Rebuilds stored, already validated parameters of a job of `job_type`."""
    if job_type == MODEL_DOWNLOAD:
        return DownloadParams.from_dict(data)
    return GenerateParams.from_dict(data)


#: The priorities a client names, and the order they stand for (higher starts first).
PRIORITIES = {"low": -1, "normal": 0, "high": 1}
PRIORITY_NAMES = {value: name for name, value in PRIORITIES.items()}


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED)


class ItemState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(slots=True)
class Item:
    """One image of a batch. Its seed is set when it starts, never before."""

    index: int
    state: ItemState = ItemState.PENDING
    seed: int | None = None
    stages: dict[str, float] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(slots=True)
class Step:
    id: str
    name: str
    state: JobState = JobState.QUEUED
    attempts: int = 0
    last_error: ErrorInfo | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    items: list[Item] = field(default_factory=list)


@dataclass(slots=True)
class Job:
    id: str
    type: str
    provider: str
    model_id: str
    params: JobParams
    created_at: datetime
    updated_at: datetime
    steps: list[Step]
    state: JobState = JobState.QUEUED
    attempts: int = 0
    error: ErrorInfo | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None  # the worker running the job
    lease_expires_at: datetime | None = None  # past it, the worker is presumed dead
    user: str = DEFAULT_USER
    idempotency_key: str | None = None
    fingerprint: str | None = None  # of the normalised request, for idempotent replays
    #: sha256 of the API key that created the job ("" without keys): an Idempotency-Key is
    #: looked up within this scope only, so two keys never share or see each other's jobs
    key_fingerprint: str = ""
    #: sha256 of the weights it is made with: the model's at creation, then what each attempt
    #: loaded (NFR-060); for a download, the installed model's
    checkpoint_hash: str | None = None
    #: queued jobs start highest priority first, oldest first within one (PRIORITIES)
    priority: int = 0
    #: where the events the client asked for are posted (None: no webhook)
    webhook: Webhook | None = None
    last_seq: int = 0
    version: int = 0
    schema_version: int = SCHEMA_VERSION
    pending_events: list[EventDraft] = field(default_factory=list)
    new_artifacts: list[Artifact] = field(default_factory=list)
    pending_webhooks: list[WebhookDraft] = field(default_factory=list)

    # --- creation -------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        params: JobParams,
        model_id: str,
        provider: str,
        now: datetime,
        job_type: str = GENERATE,
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
        user: str = DEFAULT_USER,
        key_fingerprint: str = "",
        checkpoint_hash: str | None = None,
        priority: int = 0,
        webhook: Webhook | None = None,
    ) -> Job:
        """A queued job with its steps and its first events (`job_created`, and
        `seed_ignored` when a seed cannot be honoured). Most of its length is the job's
        fields, passed by name."""
        names = [STEP_NAMES[job_type]]
        if isinstance(params, GenerateParams) and params.upscale is not None:
            names.append(UPSCALE)
        steps = [
            Step(id=new_id(), name=name, items=[Item(index=i) for i in range(params.count)])
            for name in names
        ]
        job = cls(
            id=new_id(),
            type=job_type,
            provider=provider,
            model_id=model_id,
            params=params,
            created_at=now,
            updated_at=now,
            steps=steps,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            user=user,
            key_fingerprint=key_fingerprint,
            checkpoint_hash=checkpoint_hash,
            priority=priority,
            webhook=webhook,
        )
        what = (
            f"download of {params.ref}"
            if isinstance(params, DownloadParams)
            else f"{params.count} image(s)"
        )
        job._record(
            EventKind.STATE,
            "job_created",
            f"job queued: {what}",
            now,
            data={"state": "queued", "count": params.count},
        )
        if (
            isinstance(params, GenerateParams)
            and params.seed is not None
            and not params.seed_honoured
        ):
            job._record(
                EventKind.LOG,
                "seed_ignored",
                f"seed {params.seed} ignored: with count > 1 every image gets a fresh random seed",
                now,
                level="warning",
                data={"seed": params.seed},
            )
        return job

    # --- derived --------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return self.params.count

    @property
    def step(self) -> Step:
        """The step running now or next: the first that has not succeeded (the last once all
        have). `generate` or `download`; `upscale` after `generate` when the job has one."""
        return next((s for s in self.steps if s.state is not JobState.SUCCEEDED), self.steps[-1])

    @property
    def generation(self) -> GenerateParams:
        """The parameters of a `generate` job."""
        if not isinstance(self.params, GenerateParams):
            raise InvalidTransition(f"job {self.id} of type {self.type} generates no images")
        return self.params

    @property
    def download(self) -> DownloadParams:
        """The parameters of a `model_download` job."""
        if not isinstance(self.params, DownloadParams):
            raise InvalidTransition(f"job {self.id} of type {self.type} downloads no model")
        return self.params

    @property
    def items(self) -> list[Item]:
        return self.step.items

    @property
    def progress(self) -> float:
        return weighted_progress(
            [(s.name, job_progress(self.stage_kind(s), s.items)) for s in self.steps]
        )

    def stage_kind(self, step: Step) -> str:
        """Whose stage weights a step's items use: the job type's, or the upscale step's."""
        return UPSCALE if step.name == UPSCALE else self.type

    def next_item(self) -> Item | None:
        """The first unfinished item: a retry resumes the batch here."""
        return next((i for i in self.items if i.state is not ItemState.SUCCEEDED), None)

    # --- transitions ----------------------------------------------------------------------

    def start(
        self, now: datetime, owner: str | None = None, lease_until: datetime | None = None
    ) -> None:
        self._require(JobState.QUEUED, "start")
        if self.started_at is None:  # `started` is told once, not again for a retry
            self._tell(STARTED, now)
        self.lease_owner, self.lease_expires_at = owner, lease_until
        self.state = JobState.RUNNING
        self.attempts += 1
        self.started_at = self.started_at or now
        self.next_attempt_at = None
        self.step.state = JobState.RUNNING
        self.step.attempts += 1
        self.step.started_at = self.step.started_at or now
        self._record(
            EventKind.STATE,
            "job_started",
            f"attempt {self.attempts} started",
            now,
            step_id=self.step.id,
            data={"state": "running", "attempt": self.attempts},
        )

    def record_checkpoint(self, checkpoint_hash: str | None) -> None:
        """The attempt loads these weights: what the job's images are made with from now on."""
        self._require(JobState.RUNNING, "record the checkpoint of")
        self.checkpoint_hash = checkpoint_hash

    def renew_lease(self, until: datetime) -> None:
        """The running worker is alive: others must not take the job over before `until`."""
        self._require(JobState.RUNNING, "renew the lease of")
        self.lease_expires_at = until

    def lease_expired(self, now: datetime) -> bool:
        return self.lease_expires_at is None or self.lease_expires_at <= now

    def start_item(self, index: int, seed: int | None, now: datetime) -> None:
        """`seed`: the image's seed (None for a download, which has none)."""
        self._require(JobState.RUNNING, "start an item of")
        item = self.items[index]
        if item.state is ItemState.SUCCEEDED:
            raise InvalidTransition(f"item {index} of job {self.id} already succeeded")
        item.state = ItemState.RUNNING
        item.seed = seed
        item.stages = {}
        item.started_at = now
        self._record(
            EventKind.LOG,
            "item_started",
            f"{self._item_name(index)} started",
            now,
            step_id=self.step.id,
            item_index=index,
            data={} if seed is None else {"seed": seed},
        )

    def advance_item(
        self, index: int, stage: str, fraction: float, now: datetime, **detail: Any
    ) -> None:
        """Moves an item's stage forward; earlier stages count as done."""
        self._require(JobState.RUNNING, "advance")
        item = self.items[index]
        if item.state is not ItemState.RUNNING:
            raise InvalidTransition(f"item {index} of job {self.id} is not running")
        for name in stage_weights(self.stage_kind(self.step)):
            if name == stage:
                break
            item.stages[name] = 1.0
        item.stages[stage] = max(item.stages.get(stage, 0.0), min(1.0, fraction))
        self._record_progress(item, stage, now, detail)

    def finish_item(self, index: int, artifact: Artifact, now: datetime) -> None:
        self._require(JobState.RUNNING, "finish an item of")
        item = self.items[index]
        if item.state is not ItemState.RUNNING:
            raise InvalidTransition(f"item {index} of job {self.id} is not running")
        step = self.step
        item.state = ItemState.SUCCEEDED
        item.stages = dict.fromkeys(stage_weights(self.stage_kind(step)), 1.0)
        item.finished_at = now
        self.new_artifacts.append(artifact)
        self._tell(ITEM_COMPLETED, now, artifact)
        self._record(
            EventKind.ARTIFACT,
            "artifact_stored",
            f"image {index + 1} stored",
            now,
            step_id=step.id,
            item_index=index,
            data={"artifact": artifact.to_dict()},
        )
        self._record_progress(item, "store", now, {})
        self._record(
            EventKind.LOG,
            "item_succeeded",
            f"{self._item_name(index)} done",
            now,
            step_id=step.id,
            item_index=index,
            data={"seed": item.seed},
        )
        if step is not self.steps[-1] and all(i.state is ItemState.SUCCEEDED for i in step.items):
            self._next_step(step, now)

    def finish_download(
        self, model_id: str, now: datetime, *, checkpoint_hash: str | None = None, **detail: Any
    ) -> None:
        """The model is fetched, verified and registered: the job now names it and its hash."""
        self._require(JobState.RUNNING, "finish the download of")
        item = self.items[0]
        if item.state is not ItemState.RUNNING:
            raise InvalidTransition(f"the download of job {self.id} is not running")
        item.state = ItemState.SUCCEEDED
        item.stages = dict.fromkeys(stage_weights(self.type), 1.0)
        item.finished_at = now
        self.model_id = model_id
        self.checkpoint_hash = checkpoint_hash
        self._record_progress(item, "register", now, {})
        self._record(
            EventKind.LOG,
            "model_installed",
            f"model {model_id} installed",
            now,
            step_id=self.step.id,
            item_index=0,
            data={"model_id": model_id, "checkpoint_hash": checkpoint_hash, **detail},
        )

    def succeed(self, now: datetime) -> None:
        self._require(JobState.RUNNING, "succeed")
        unfinished = [i.index for i in self.items if i.state is not ItemState.SUCCEEDED]
        if unfinished:
            raise InvalidTransition(f"job {self.id} has unfinished items {unfinished}")
        self._finish(JobState.SUCCEEDED, now, "job_succeeded", "job succeeded", {"progress": 1.0})

    def cancel(self, now: datetime) -> bool:
        """The client no longer wants the job: a queued one never runs, a running one stops
        (its worker sees the change at its next save). Finished items keep their artifacts;
        the others stay pending. False when it was canceled already (a cancel is idempotent);
        a succeeded or failed job cannot be canceled."""
        if self.state is JobState.CANCELED:
            return False
        if self.state.terminal:
            raise InvalidState(
                f"job {self.id} has {self.state.value}: only a queued or running job can be "
                "canceled",
                details={"state": self.state.value},
                job_id=self.id,
            )
        self._abandon_running_items(ItemState.PENDING)
        self._finish(JobState.CANCELED, now, "job_canceled", "job canceled")
        return True

    def schedule_retry(self, error: ErrorInfo, now: datetime, retry_at: datetime) -> None:
        """A transient failure: back to the queue; finished items keep their artifacts."""
        self._require(JobState.RUNNING, "retry")
        self._abandon_running_items(ItemState.PENDING)
        self._release_lease()
        self.state = self.step.state = JobState.QUEUED
        self.step.last_error = error
        self.next_attempt_at = retry_at
        delay = (retry_at - now).total_seconds()
        self._record(
            EventKind.STATE,
            "retry_scheduled",
            f"attempt {self.attempts} failed ({error.code}: {error.message}); "
            f"retrying in {delay:.1f}s",
            now,
            level="warning",
            step_id=self.step.id,
            data={
                "state": "queued",
                "error": error.to_dict(),
                "retry_at": iso(retry_at),
                "attempt": self.attempts,
            },
        )

    def fail(self, error: ErrorInfo, now: datetime) -> None:
        self._require(JobState.RUNNING, "fail")
        self._abandon_running_items(ItemState.FAILED)
        self.error = self.step.last_error = error
        self._finish(
            JobState.FAILED,
            now,
            "job_failed",
            f"job failed: {error.code}: {error.message}",
            {"error": error.to_dict()},
            level="error",
        )

    def requeue_interrupted(self, now: datetime) -> None:
        """The process running this job died; run the rest again from the first unfinished item."""
        self._require(JobState.RUNNING, "requeue")
        self._abandon_running_items(ItemState.PENDING)
        self._release_lease()
        self.state = self.step.state = JobState.QUEUED
        self.next_attempt_at = None
        self._record(
            EventKind.STATE,
            "job_requeued",
            "the worker stopped while running this job; it was queued again",
            now,
            level="warning",
            step_id=self.step.id,
            data={"state": "queued"},
        )

    def hand_back(self, now: datetime) -> None:
        """Its worker stopped gracefully: back to the queue at once, runnable now, and the
        attempt does not count (the job did not fail, the worker left). Finished items keep
        their artifacts; the next attempt resumes at the first unfinished item."""
        self._require(JobState.RUNNING, "hand back")
        self._abandon_running_items(ItemState.PENDING)
        self._release_lease()
        self.state = self.step.state = JobState.QUEUED
        self.attempts -= 1
        self.step.attempts -= 1
        self.next_attempt_at = None
        self._record(
            EventKind.STATE,
            "job_handed_back",
            "the worker stopped gracefully; the job went back to the queue",
            now,
            step_id=self.step.id,
            data={"state": "queued"},
        )

    def reopen(self, now: datetime) -> None:
        """An operator runs a failed job again once its cause is fixed.

        It resumes at its first unfinished item (finished items keep their artifacts) and
        gets one more attempt, not a fresh budget: `attempts` keeps counting starts, so a
        cause that was not fixed fails the job again at once instead of looping.
        """
        self._require(JobState.FAILED, "reopen")
        previous = self.error
        for item in self.items:
            if item.state is ItemState.FAILED:
                item.state = ItemState.PENDING
                item.stages = {}
        self.state = self.step.state = JobState.QUEUED
        self.error = None
        self.finished_at = self.step.finished_at = None
        self.next_attempt_at = None
        self._record(
            EventKind.STATE,
            "job_reopened",
            "the failed job was queued again by an operator",
            now,
            level="warning",
            step_id=self.step.id,
            data={
                "state": "queued",
                "previous_error": previous.to_dict() if previous else None,
            },
        )

    # --- events ---------------------------------------------------------------------------

    def take_events(self) -> list[EventDraft]:
        drafts, self.pending_events = self.pending_events, []
        return drafts

    def take_webhooks(self) -> list[WebhookDraft]:
        drafts, self.pending_webhooks = self.pending_webhooks, []
        return drafts

    def take_artifacts(self) -> list[Artifact]:
        artifacts, self.new_artifacts = self.new_artifacts, []
        return artifacts

    def note(
        self,
        code: str,
        message: str,
        now: datetime,
        *,
        level: str = "info",
        item_index: int | None = None,
        **data: Any,
    ) -> None:
        """Records a log event that changes no state (model loaded, memory figures, …)."""
        self._record(
            EventKind.LOG,
            code,
            message,
            now,
            level=level,
            step_id=self.step.id,
            item_index=item_index,
            data=data,
        )

    # --- internals ------------------------------------------------------------------------

    def _next_step(self, done: Step, now: datetime) -> None:
        """Every item of `done` succeeded: the next step starts within the same attempt."""
        done.state, done.finished_at = JobState.SUCCEEDED, now
        self._record(
            EventKind.LOG,
            "step_succeeded",
            f"step {done.name} done",
            now,
            step_id=done.id,
            data={"step": done.name},
        )
        following = self.step
        following.state = JobState.RUNNING
        following.attempts += 1
        following.started_at = following.started_at or now
        self._record(
            EventKind.LOG,
            "step_started",
            f"step {following.name} started",
            now,
            step_id=following.id,
            data={"step": following.name, "attempt": self.attempts},
        )

    def _require(self, state: JobState, action: str) -> None:
        if self.state is not state:
            raise InvalidTransition(f"cannot {action} job {self.id} in state {self.state}")

    def _finish(
        self,
        state: JobState,
        now: datetime,
        code: str,
        message: str,
        data: dict[str, Any] | None = None,
        *,
        level: str = "info",
    ) -> None:
        """Into a terminal state: the lease goes, the `state` event (its data names the state
        first) and then `end` are recorded."""
        self._release_lease()
        self.state = self.step.state = state
        self.finished_at = self.step.finished_at = now
        self.next_attempt_at = None
        data = {"state": state.value, **(data or {})}
        self._record(
            EventKind.STATE, code, message, now, level=level, step_id=self.step.id, data=data
        )
        self._record_end(now)
        self._tell(COMPLETED, now)

    def _release_lease(self) -> None:
        self.lease_owner = self.lease_expires_at = None

    def _abandon_running_items(self, to: ItemState) -> None:
        for item in self.items:
            if item.state is ItemState.RUNNING:
                item.state = to
                item.stages = {}

    def _record_progress(
        self, item: Item, stage: str, now: datetime, detail: dict[str, Any]
    ) -> None:
        self.updated_at = now
        self._record(
            EventKind.PROGRESS,
            "item_progress",
            f"{self._item_name(item.index, of=False)}: {stage}",
            now,
            step_id=self.step.id,
            item_index=item.index,
            data={
                "stage": stage,
                "item_progress": round(item_progress(self.stage_kind(self.step), item.stages), 6),
                "progress": round(self.progress, 6),
                **detail,
            },
        )

    def _item_name(self, index: int, *, of: bool = True) -> str:
        if self.type == MODEL_DOWNLOAD:
            return "download"
        name = f"image {index + 1}/{self.count}" if of else f"image {index + 1}"
        return f"{name} ({UPSCALE})" if self.step.name == UPSCALE else name

    def _record_end(self, now: datetime) -> None:
        self._record(
            EventKind.END, "end", f"job {self.state}", now, data={"state": self.state.value}
        )

    def _tell(self, event: str, now: datetime, artifact: Artifact | None = None) -> None:
        """Records a webhook message when the client asked for this event."""
        if self.webhook is not None and self.webhook.wants(event):
            self.pending_webhooks.append(WebhookDraft(event, now, artifact))

    def _record(
        self,
        kind: EventKind,
        code: str,
        message: str,
        now: datetime,
        *,
        level: str = "info",
        step_id: str | None = None,
        item_index: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.updated_at = now
        self.pending_events.append(
            EventDraft(
                kind=kind,
                code=code,
                message=message,
                ts=now,
                level=level,
                step_id=step_id,
                item_index=item_index,
                data=data or {},
            )
        )
