"""Creating a job: the whole body checked at once (every broken rule named in one answer), the
caller's limits, the `Idempotency-Key` replay, the job's input images stored before its row,
then the row and its queue message.

It is one module because these steps are one decision in a fixed order (nothing is stored
until every check has passed, and a replay must not count against a limit); the rules
themselves live in the domain modules it calls.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import timedelta
from typing import Any

from dreamforge_core.domain.caller import KEYLESS, Caller
from dreamforge_core.domain.download import DownloadParams, validate_download_params
from dreamforge_core.domain.image_inputs import INPUT_FIELDS
from dreamforge_core.domain.job import (
    GENERATE,
    JOB_TYPES,
    MODEL_DOWNLOAD,
    PRIORITIES,
    Job,
    JobParams,
)
from dreamforge_core.domain.loras import KIND_LORA, check_loras
from dreamforge_core.domain.model import choose_default_model
from dreamforge_core.domain.params import GenerateParams, validate_params
from dreamforge_core.domain.presets import DEFAULT_PRESETS, Preset
from dreamforge_core.domain.webhooks import Webhook, validate_webhook
from dreamforge_core.errors import (
    FieldError,
    Forbidden,
    IdempotencyConflict,
    InvalidInput,
    Unavailable,
)
from dreamforge_core.ports.clock import Clock
from dreamforge_core.ports.job_queue import JobQueue
from dreamforge_core.ports.job_repo import JobRepo
from dreamforge_core.ports.model_registry import ModelRegistry
from dreamforge_core.ports.webhooks import RefusedTarget, WebhookTargets
from dreamforge_core.use_cases.caller_limits import CallerLimits
from dreamforge_core.use_cases.job_inputs import NO_INPUTS, JobInputs, PreparedInputs

PROVIDERS = ("local-sdxl-epicrealism",)
_TOP_LEVEL = ("type", "provider", "model_id", "priority", "params", "webhook", "webhook_events")
_ANY_TYPE = ("type", "params", "webhook", "webhook_events")  # fields every job type takes


@dataclass(frozen=True, slots=True)
class CreateJobCommand:
    body: Any  # the decoded JSON body
    idempotency_key: str | None = None
    caller: Caller = KEYLESS


@dataclass(frozen=True, slots=True)
class DownloadJobs:
    """Background model downloads (FR-098): the IO queue they go to and the reference
    prefixes (sources) this installation can fetch from."""

    queue: JobQueue
    sources: Collection[str]


@dataclass(frozen=True, slots=True)
class CreateJobResult:
    job: Job
    replayed: bool


def validate_idempotency_key(key: str) -> None:
    if not 1 <= len(key) <= 255 or not all(" " <= ch <= "~" for ch in key):
        raise InvalidInput.for_fields(
            [FieldError("Idempotency-Key", "must be 1 to 255 printable ASCII characters")]
        )


def request_fingerprint(
    job_type: str,
    provider: str,
    model_id: str,
    params: Mapping[str, Any],
    *,
    priority: int = 0,
    webhook: Webhook | None = None,
) -> str:
    request: dict[str, Any] = {
        "type": job_type, "provider": provider, "model_id": model_id, "params": params
    }  # fmt: skip
    # A request without them keeps the fingerprint it had before these fields existed.
    if priority:
        request["priority"] = priority
    if webhook is not None:
        request["webhook"] = webhook.to_dict()
    canonical = json.dumps(
        request,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _CheckedRequest:
    """A request that passed every check: what its job is made of, and the queue it goes to."""

    params: JobParams
    provider: str
    model_id: str  # "" for a download, until its model is installed
    checkpoint_hash: str | None
    priority: int
    webhook: Webhook | None
    queue: JobQueue
    images: PreparedInputs = NO_INPUTS


@dataclass(frozen=True, slots=True)
class CreateJob:
    """Validates a job request, stores it and queues it.

    Rules:
    - unknown top-level fields are rejected; `priority` is `low`, `normal` (the default) or
      `high`; `type` defaults to `generate`, `provider` to
      `local-sdxl-epicrealism`, `model_id` to the default model: the configured one, else
      the one `choose_default_model` picks from the registry as it is now (a model installed
      while the server runs counts at once). The model must be installed and enabled; the
      job records its checkpoint hash;
    - `params` follow the model's limits (`validate_params`); nothing is stored on failure;
      each LoRA in `params.loras` is an installed, enabled `sdxl-lora` of the model's base
      family (`check_loras`), and a LoRA is no `model_id` of its own;
    - image inputs (`init_image`, `mask_image`) are read and checked by `JobInputs` and
      stored under the job's `inputs/` before its row; without `inputs` they are refused;
    - `webhook` (with `webhook_events`) needs `webhooks`, the targets' check, which the
      server has only when a webhook secret is configured; the URL's host must resolve to
      addresses webhooks may reach. A webhook is part of the request an Idempotency-Key
      guards;
    - a `model_download` job (offered only when `downloads` is given) needs an admin caller
      (else Forbidden, before its body is looked at) and takes `params.ref`, a model
      reference of a known source, and neither `provider` nor `model_id`: its provider is
      the source, its `model_id` is set once the model is installed. It goes to the IO
      queue, never to the GPU queue;
    - an Idempotency-Key is scoped to the caller's API key (its fingerprint is stored with
      the job, never the key): seen within the window from the same key, it returns the
      original job when the normalised request is the same, and raises IdempotencyConflict
      when it differs; another key's use of it is unrelated. Concurrent requests with one key
      create one job (the repository decides);
    - a valid request over the caller's limits (`CallerLimits`) is refused with RateLimited
      before anything is stored; an idempotent replay counts like a creation;
    - a stored job is enqueued; when the queue is unreachable the job is still accepted (it is
      durable) and the sweeper enqueues it once the queue answers again.
    """

    repo: JobRepo
    queue: JobQueue
    registry: ModelRegistry
    clock: Clock
    _: KW_ONLY
    default_model_id: str | None  # configured; None: chosen by rule at each request
    idempotency_window_s: float
    presets: Mapping[str, Preset] = field(default_factory=lambda: DEFAULT_PRESETS)
    downloads: DownloadJobs | None = None
    limits: CallerLimits | None = None
    webhooks: WebhookTargets | None = None  # None: webhooks are refused
    inputs: JobInputs | None = None  # None: image inputs are refused

    @property
    def idempotency_window(self) -> timedelta:
        return timedelta(seconds=self.idempotency_window_s)

    def __call__(self, cmd: CreateJobCommand) -> CreateJobResult:
        if cmd.idempotency_key is not None:
            validate_idempotency_key(cmd.idempotency_key)
        body = cmd.body
        if not isinstance(body, Mapping):
            raise InvalidInput.for_fields([FieldError("body", "must be a JSON object")])
        job_type = body.get("type", GENERATE)
        type_error = self._type_error(job_type)
        if type_error is None and job_type == MODEL_DOWNLOAD and self.downloads is not None:
            request = self._download_request(body, self.downloads, cmd.caller)
        else:
            request = self._generate_request(body, type_error, cmd.caller)
        if self.limits is not None:
            self.limits.check(cmd.caller)  # a valid request, before anything is stored
        fingerprint = request_fingerprint(
            job_type,
            request.provider,
            request.model_id,
            request.params.to_dict(),
            priority=request.priority,
            webhook=request.webhook,
        )
        job = Job.create(
            params=request.params,
            model_id=request.model_id,
            provider=request.provider,
            now=self.clock.now(),
            job_type=job_type,
            idempotency_key=cmd.idempotency_key,
            fingerprint=fingerprint,
            key_fingerprint=cmd.caller.key_fingerprint,
            checkpoint_hash=request.checkpoint_hash,
            priority=request.priority,
            webhook=request.webhook,
        )
        stored, created = self._store(job, request.images)
        if not created:
            if stored.fingerprint != fingerprint:
                raise IdempotencyConflict(
                    "this Idempotency-Key was used with a different request body",
                    details={"idempotency_key": cmd.idempotency_key, "job_id": stored.id},
                    job_id=stored.id,
                )
            return CreateJobResult(stored, replayed=True)
        with contextlib.suppress(Unavailable):  # stored is enough: the sweeper enqueues it
            request.queue.enqueue(stored.id)
        return CreateJobResult(stored, replayed=False)

    def _download_request(
        self, body: Mapping[str, Any], downloads: DownloadJobs, caller: Caller
    ) -> _CheckedRequest:
        if not caller.admin:
            raise Forbidden(
                "model_download jobs need an admin API key", details={"type": MODEL_DOWNLOAD}
            )
        download, webhook = self._download_params(body, downloads)
        return _CheckedRequest(
            params=download,
            provider=download.source,
            model_id="",
            checkpoint_hash=None,
            priority=PRIORITIES["normal"],
            webhook=webhook,
            queue=downloads.queue,
        )

    def _generate_request(
        self, body: Mapping[str, Any], type_error: FieldError | None, caller: Caller
    ) -> _CheckedRequest:
        provider, model_id, raw_params, priority, webhook = self._top_level(body, type_error)
        model = self.registry.get(model_id)
        if model is None or not model.enabled or not model.installed:
            state = "unknown" if model is None else "not installed or disabled"
            raise InvalidInput.for_fields(
                [FieldError("model_id", f"model {model_id!r} is {state}")]
            )
        if model.kind == KIND_LORA:
            raise InvalidInput.for_fields(
                [FieldError("model_id", f"{model_id!r} is a LoRA; name it in params.loras")]
            )
        validated = validate_params(raw_params, model.limits, self.presets)
        lora_errors = check_loras(validated.loras, model, self.registry.get)
        if lora_errors:  # before any input image is stored
            raise InvalidInput.for_fields(lora_errors)
        params, images = self._image_inputs(raw_params, validated, caller)
        return _CheckedRequest(
            params=params,
            provider=provider,
            model_id=model.id,
            checkpoint_hash=model.checkpoint_hash,
            priority=priority,
            webhook=webhook,
            queue=self.queue,
            images=images,
        )

    def _image_inputs(
        self, raw: Any, params: GenerateParams, caller: Caller
    ) -> tuple[GenerateParams, PreparedInputs]:
        if self.inputs is not None:
            return self.inputs.prepare(raw, params, caller)
        if any(name in raw for name in INPUT_FIELDS):
            raise InvalidInput.for_fields(
                [FieldError(f"params.{n}", "is not offered here") for n in INPUT_FIELDS if n in raw]
            )
        return params, NO_INPUTS

    def _store(self, job: Job, images: PreparedInputs) -> tuple[Job, bool]:
        """The job's inputs first, then its row; inputs no row names are deleted again."""
        if self.inputs is None or not images.images:
            return self.repo.create(job, job.created_at - self.idempotency_window)
        keys = self.inputs.store(job, images)
        try:
            stored, created = self.repo.create(job, job.created_at - self.idempotency_window)
        except BaseException:
            self.inputs.discard(keys)
            raise
        if not created:  # a replay: the first job has its own inputs
            self.inputs.discard(keys)
        return stored, created

    def _default_model(self) -> str | None:
        if self.default_model_id is not None:
            return self.default_model_id
        chosen = choose_default_model(self.registry.list())
        return None if chosen is None else chosen.id

    def _type_error(self, job_type: Any) -> FieldError | None:
        offered = JOB_TYPES if self.downloads is not None else (GENERATE,)
        if job_type in offered:
            return None
        if job_type == MODEL_DOWNLOAD:
            return FieldError("type", "model_download jobs are not enabled on this server")
        return FieldError("type", f"must be one of {', '.join(offered)}")

    def _download_params(
        self, body: Mapping[str, Any], downloads: DownloadJobs
    ) -> tuple[DownloadParams, Webhook | None]:
        unused = "is not used by model_download jobs"
        errors = [
            FieldError(str(k), unused if k in _TOP_LEVEL else "is not a known field")
            for k in body
            if k not in _ANY_TYPE
        ]
        if "params" not in body:
            errors.append(FieldError("params", "is required"))
        webhook = self._webhook(body, errors)
        if errors:
            raise InvalidInput.for_fields(errors)
        return validate_download_params(body["params"], downloads.sources), webhook

    def _webhook(self, body: Mapping[str, Any], errors: list[FieldError]) -> Webhook | None:
        """The request's webhook; its problems join `errors`. The target's addresses are
        looked up only for a request that is valid otherwise."""
        webhook, problems = validate_webhook(body.get("webhook"), body.get("webhook_events"))
        errors.extend(problems)
        if webhook is None:
            return None
        if self.webhooks is None:
            errors.append(
                FieldError(
                    "webhook",
                    "webhooks are not enabled on this server (its operator sets "
                    "DREAMFORGE_WEBHOOK_SECRET to enable them)",
                )
            )
        elif not errors:
            try:
                self.webhooks.check(webhook.url)
            except RefusedTarget as e:
                errors.append(FieldError("webhook", e.message))
        return webhook

    def _top_level(
        self, body: Mapping[str, Any], type_error: FieldError | None
    ) -> tuple[str, str, Any, int, Webhook | None]:
        errors = [FieldError(str(k), "is not a known field") for k in body if k not in _TOP_LEVEL]
        if type_error is not None:
            errors.append(type_error)
        provider = body.get("provider", PROVIDERS[0])
        if provider not in PROVIDERS:
            errors.append(FieldError("provider", f"must be one of {', '.join(PROVIDERS)}"))
        priority = body.get("priority", "normal")
        if not isinstance(priority, str) or priority not in PRIORITIES:
            errors.append(FieldError("priority", f"must be one of {', '.join(PRIORITIES)}"))
        model_id = body.get("model_id") or self._default_model()
        if "model_id" in body and not isinstance(body["model_id"], str | None):
            errors.append(FieldError("model_id", "must be a string"))
        elif body.get("model_id") == "":
            errors.append(FieldError("model_id", "must not be empty (omit it for the default)"))
        elif model_id is None:
            errors.append(FieldError("model_id", "no model given and no default model installed"))
        if "params" not in body:
            errors.append(FieldError("params", "is required"))
        webhook = self._webhook(body, errors)
        if errors:
            raise InvalidInput.for_fields(errors)
        return provider, str(model_id), body["params"], PRIORITIES[priority], webhook
