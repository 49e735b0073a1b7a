"""OpenAPI details Litestar cannot infer from the handlers' types: the create-job body (a
oneOf validated by the core, so that every error of a body is reported at once), the error
envelope on every error status, and examples written with their nulls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, Operation, RequestBody
from litestar.openapi.spec.base import BaseSchemaObject
from litestar.openapi.spec.media_type import OpenAPIMediaType

from dreamforge_adapters.http.errors import STATUS_BY_CODE
from dreamforge_adapters.http.shapes import ErrorEnvelope
from dreamforge_core.domain.download import MAX_REF_CHARS
from dreamforge_core.domain.job import PRIORITIES
from dreamforge_core.domain.params import ModelLimits, parameters_schema
from dreamforge_core.domain.presets import DEFAULT_PRESETS
from dreamforge_core.domain.webhooks import DEFAULT_EVENTS, MAX_URL_LENGTH, WEBHOOK_EVENTS

EXAMPLE_REQUEST: dict[str, Any] = {
    "type": "generate",
    "provider": "local-sdxl-epicrealism",
    "params": {
        "prompt": "a lighthouse at dawn, 35mm photo",
        "negative_prompt": "blurry",
        "width": 1024,
        "height": 1024,
        "steps": 30,
        "guidance": 6.0,
        "scheduler": "dpmpp_2m_karras",
        "format": "png",
        "count": 3,
    },
}

_TS = "2026-01-31T12:00:00.000000Z"
EXAMPLE_JOB = {
    "id": "0194b2c3d4e5f60718293a4b5c",
    "type": "generate",
    "provider": "local-sdxl-epicrealism",
    "model_id": "epicrealism-xl",
    "checkpoint_hash": "0c4f9b3e2a1d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b",
    "state": "queued",
    "params": {**EXAMPLE_REQUEST["params"], "seed": None, "embed_metadata": True, "preset": None},
    "count": 3,
    "progress": 0.0,
    "attempts": 0,
    "error": None,
    "priority": "normal",
    "queue_position": 0,
    "created_at": _TS,
    "updated_at": _TS,
    "started_at": None,
    "finished_at": None,
    "steps": [
        {
            "id": "0194b2c3d4e5f6a1b2c3d4e5f6",
            "name": "generate",
            "state": "queued",
            "attempts": 0,
            "last_error": None,
            "started_at": None,
            "finished_at": None,
        }
    ],
    "links": {
        "self": "/v1/jobs/0194b2c3d4e5f60718293a4b5c",
        "artifacts": "/v1/jobs/0194b2c3d4e5f60718293a4b5c/artifacts",
        "logs": "/v1/jobs/0194b2c3d4e5f60718293a4b5c/logs",
        "progress": "/v1/jobs/0194b2c3d4e5f60718293a4b5c/progress",
        "stream": "/v1/jobs/0194b2c3d4e5f60718293a4b5c/progress/stream",
    },
    "schema_version": 1,
}
EXAMPLE_ERROR = {
    "error": {
        "code": "invalid_input",
        "message": "invalid request: params.count: must be between 1 and 100",
        "details": {"errors": [{"field": "params.count", "message": "must be between 1 and 100"}]},
        "correlation_id": "5f0c6d9e2b7a4c1f8e3d2a1b0c9d8e7f",
        "job_id": None,
    }
}
_ERROR_MESSAGES = {
    401: "missing or invalid API key (send Authorization: Bearer <key>)",
    403: "model_download jobs need an admin API key",
    404: "no job with id '0194b2c3d4e5f60718293a4b5c'",
    409: "Idempotency-Key was used with a different request body",
    413: "request body exceeds the size limit",
    415: "send the body as application/json, not 'text/plain'",
    429: "this API key created 60 job(s) this minute, its limit",
    503: "not ready: redis",
}
_DESCRIPTIONS = {
    200: "OK",
    202: "Accepted: the job (the original one when the Idempotency-Key was seen before)",
    401: "Missing or invalid API key",
    403: "A model_download job sent without an admin API key",
    404: "Unknown id",
    409: "Idempotency-Key reused with a different body, or the job's state forbids it",
    413: "Body over 1 MiB (16 MiB for a job request carrying images)",
    415: "Body is not JSON",
    422: "Validation failed; details name the fields",
    429: "Over a limit of the API key (details.limit); retry after Retry-After seconds",
    503: "A dependency is down",
}


# JSON Schema counts 8.0 as an integer; the server reads the number as written.
_INTEGERS = "Integer values are written without a fraction: 8, not 8.0."


_WEBHOOK_FIELDS: dict[str, Any] = {
    "webhook": {
        "type": "string",
        "format": "uri",
        "maxLength": MAX_URL_LENGTH,
        "description": "http or https URL that receives the job's events as signed POSTs "
        "(Standard Webhooks); needs DREAMFORGE_WEBHOOK_SECRET on the server. Hosts on loopback, "
        "private, link-local or metadata addresses are refused unless the operator allows them.",
    },
    "webhook_events": {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "enum": list(WEBHOOK_EVENTS)},
        "default": list(DEFAULT_EVENTS),
        "description": "Which events are posted; `completed` covers succeeded, failed and "
        "canceled. Needs `webhook`.",
    },
}


def create_job_schema() -> dict[str, Any]:
    generate = {
        "type": "object",
        "title": "generate",
        "additionalProperties": False,
        "required": ["params"],
        "properties": {
            "type": {"type": "string", "enum": ["generate"], "default": "generate"},
            "provider": {
                "type": "string",
                "enum": ["local-sdxl-epicrealism"],
                "default": "local-sdxl-epicrealism",
            },
            "model_id": {
                "type": ["string", "null"],
                "minLength": 1,
                "description": "Omitted or null: the default model",
            },
            "priority": {
                "type": "string",
                "enum": list(PRIORITIES),
                "default": "normal",
                "description": "Queued jobs start in priority order, first in first out within one",
            },
            "params": parameters_schema(ModelLimits(), DEFAULT_PRESETS)
            | {"$schema": None, "description": _INTEGERS},
            **_WEBHOOK_FIELDS,
        },
    }
    model_download = {
        "type": "object",
        "title": "model_download",
        "description": "Where DREAMFORGE_MODEL_DOWNLOAD_JOBS is on (else 422 naming `type`)",
        "additionalProperties": False,
        "required": ["type", "params"],
        "properties": {
            "type": {"type": "string", "enum": ["model_download"]},
            "params": {
                "type": "object",
                "additionalProperties": False,
                "required": ["ref"],
                "properties": {
                    "ref": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_REF_CHARS,
                        "description": "hf:owner/name[@revision][#file] or "
                        "civitai:<id|slug>[@version]",
                    }
                },
            },
            **_WEBHOOK_FIELDS,
        },
    }
    return {"oneOf": [generate, model_download]}


def optional_value(json_type: str, **schema: Any) -> dict[str, Any]:
    """`schema_extra` of an optional query or header value: Litestar writes `T | None` as
    "T or null", but a value is absent or a T, never null."""
    return {"type": json_type, "oneOf": None, **schema}


@dataclass
class DocumentedOperation(Operation):
    """Litestar's own 400 goes: the server answers every validation error with 422."""

    def __post_init__(self) -> None:
        self.responses = {k: v for k, v in (self.responses or {}).items() if str(k) != "400"}


@dataclass
class CreateJobOperation(DocumentedOperation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="Bounds shown are the SDXL defaults; each model's own bounds are in "
            "its `parameters_schema` (GET /v1/models/{id}).",
            content={
                "application/json": OpenAPIMediaType(
                    schema=create_job_schema(),  # type: ignore[arg-type]
                    examples={"batch": Example(summary="three images", value=EXAMPLE_REQUEST)},
                )
            },
        )
        super().__post_init__()


@dataclass
class _Verbatim(BaseSchemaObject):
    """An example value written as is: Litestar drops None from plain dicts, and an example
    without its nulls would contradict the schema."""

    value: dict[str, Any]

    def to_schema(self) -> dict[str, Any]:
        return self.value


def responses(
    *codes: int,
    ok: type[Any] | None = None,
    ok_example: dict[str, Any] | None = None,
    authenticated: bool = True,
) -> dict[int, ResponseSpec]:
    """Documented responses: `ok` is the body of the 2xx ones, the envelope that of the
    others; every /v1 route may also answer 401 when API keys are set."""
    out: dict[int, ResponseSpec] = {}
    for code in (*codes, 401) if authenticated else codes:
        example = ok_example if code < 300 else _error_example(code)
        summary = _DESCRIPTIONS.get(code, "")
        out[code] = ResponseSpec(
            data_container=ok if code < 300 else ErrorEnvelope,
            description=summary,
            examples=[Example(summary=summary, value=_Verbatim(example))] if example else None,
        )
    return out


def documented(
    *codes: int,
    summary: str,
    tag: str,
    ok: type[Any] | None = None,
    ok_example: dict[str, Any] | None = None,
    authenticated: bool = True,
    description: str | None = None,
    operation: type[DocumentedOperation] | None = None,
) -> dict[str, Any]:
    """A route's documentation, as the keyword arguments of Litestar's route decorators:
    its responses (see `responses`), summary, tag and description."""
    specs = responses(*codes, ok=ok, ok_example=ok_example, authenticated=authenticated)
    return {
        "operation_class": operation or DocumentedOperation,
        "summary": summary,
        "tags": [tag],
        **({"responses": specs} if specs else {}),  # none: Litestar's own
        **({"description": description} if description else {}),
    }


def _error_example(status: int) -> dict[str, Any]:
    if status == 422:
        return EXAMPLE_ERROR
    code = next((c for c, s in STATUS_BY_CODE.items() if s == status), "internal")
    message = _ERROR_MESSAGES.get(status, "internal error")
    return {"error": {**EXAMPLE_ERROR["error"], "code": code, "message": message, "details": {}}}
