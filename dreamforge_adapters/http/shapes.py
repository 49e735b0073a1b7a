"""The bodies the API answers with, as typed structs: Litestar encodes them and writes their
JSON Schemas into the OpenAPI document as named components, the names a generated client uses.
Field order is the order clients have always seen; a field without a default is required."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar.openapi.spec import OpenAPIFormat
from litestar.params import KwargDefinition

ErrorCode = Literal[
    "invalid_input",
    "not_found",
    "idempotency_conflict",
    "invalid_state",
    "unauthorized",
    "forbidden",
    "method_not_allowed",
    "request_timeout",
    "payload_too_large",
    "misdirected_request",
    "rate_limited",
    "headers_too_large",
    "unsupported_media_type",
    "unavailable",
    "internal",
]
State = Literal["queued", "running", "succeeded", "failed", "canceled"]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
Count = Annotated[int, msgspec.Meta(ge=0)]
# ISO 8601 UTC with microseconds, written by the domain's clock: Litestar reads the format
# from its own annotation (it ignores msgspec's `extra_json_schema`)
Time = Annotated[str, KwargDefinition(format=OpenAPIFormat.DATE_TIME)]


class ErrorInfo(msgspec.Struct):
    code: str
    message: str


class JobStep(msgspec.Struct):
    id: str
    name: str
    state: State
    attempts: Count
    last_error: ErrorInfo | None
    started_at: Time | None
    finished_at: Time | None


class JobLinks(msgspec.Struct):
    self: str
    artifacts: str
    logs: str
    progress: str
    stream: str


class Job(msgspec.Struct):
    id: str
    type: Literal["generate", "model_download"]
    provider: str
    model_id: str
    checkpoint_hash: str | None
    state: State
    params: dict[str, Any]
    count: Annotated[int, msgspec.Meta(ge=1)]
    progress: Fraction
    attempts: Count
    error: ErrorInfo | None
    priority: Literal["low", "normal", "high"]
    # while queued: how many jobs of its queue start before it (0: next); else null
    queue_position: Count | None
    created_at: Time
    updated_at: Time
    started_at: Time | None
    finished_at: Time | None
    steps: list[JobStep]
    links: JobLinks
    schema_version: int


class Artifact(msgspec.Struct):
    id: str
    item_index: Count
    step: str
    key: str
    content_type: str
    format: str
    width: Count | None
    height: Count | None
    seed: Count | None
    size_bytes: Count
    sha256: str
    checkpoint_hash: str | None
    created_at: Time
    url: Annotated[str, KwargDefinition(format=OpenAPIFormat.URI)]
    url_expires_at: Time


class ArtifactList(msgspec.Struct):
    items: list[Artifact]


class StageProgress(msgspec.Struct):
    name: str
    weight: Fraction
    progress: Fraction


class ItemProgress(msgspec.Struct):
    item_index: Count
    state: str
    progress: Fraction
    seed: int | None


class Progress(msgspec.Struct):
    job_id: str
    state: State
    progress: Fraction
    stages: list[StageProgress]
    items: list[ItemProgress]
    updated_at: Time
    step: str  # the step `stages` and `items` are of: generate, download or upscale


class ModelSummary(msgspec.Struct):
    id: str
    name: str
    kind: str
    version: str
    installed: bool
    enabled: bool
    parameters_schema: dict[str, Any]
    # the family of models it belongs to (`sdxl`, …); a LoRA fits the models of its own
    base_model: str | None


class ModelList(msgspec.Struct):
    items: list[ModelSummary]


class ModelDescriptor(ModelSummary):  # the summary's fields, then the rest of the entry
    checkpoint_hash: str | None
    source_uri: str | None
    local_path: str | None
    capabilities: list[str]
    provenance: dict[str, Any]
    created_at: Time
    updated_at: Time
    schema_version: int


class Health(msgspec.Struct):
    status: Literal["ok"]


class Readiness(msgspec.Struct):
    status: Literal["ready"]
    checks: dict[str, str]


class ErrorBody(msgspec.Struct):
    code: ErrorCode
    message: Annotated[str, msgspec.Meta(min_length=1)]
    details: dict[str, Any]
    correlation_id: str
    job_id: str | None


class ErrorEnvelope(msgspec.Struct):
    """Every 4xx and 5xx answer."""

    error: ErrorBody
