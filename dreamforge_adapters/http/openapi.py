"""OpenAPI details Litestar cannot infer: the create-job body (validated by the core, not
by a typed handler argument) and example responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, Operation, RequestBody
from litestar.openapi.spec.media_type import OpenAPIMediaType

from dreamforge_core.domain.download import MAX_REF_CHARS
from dreamforge_core.domain.params import ModelLimits, parameters_schema
from dreamforge_core.domain.presets import DEFAULT_PRESETS

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
    "state": "queued",
    "params": {**EXAMPLE_REQUEST["params"], "seed": None, "embed_metadata": True, "preset": None},
    "count": 3,
    "progress": 0.0,
    "attempts": 0,
    "error": None,
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
_DESCRIPTIONS = {
    200: "OK",
    202: "Accepted: the job (the original one when the Idempotency-Key was seen before)",
    401: "Missing or invalid API key",
    404: "Unknown id",
    409: "Idempotency-Key reused with a different body",
    413: "Body over 1 MiB",
    415: "Body is not JSON",
    422: "Validation failed; details name the fields",
    503: "A dependency is down",
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
            "model_id": {"type": "string", "description": "Defaults to the default model"},
            "params": parameters_schema(ModelLimits(), DEFAULT_PRESETS) | {"$schema": None},
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
        },
    }
    return {"oneOf": [generate, model_download]}


@dataclass
class CreateJobOperation(Operation):
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
        self.parameters = [*(self.parameters or [])]


def responses(*codes: int, authenticated: bool = True) -> dict[int, ResponseSpec]:
    """Documented responses; every /v1 route may also answer 401 when API keys are set."""
    out: dict[int, ResponseSpec] = {}
    for code in (*codes, 401) if authenticated else codes:
        if code < 300:
            example = EXAMPLE_JOB
        else:
            example = {"error": {**EXAMPLE_ERROR["error"], "code": _code_for(code)}}
        out[code] = ResponseSpec(
            data_container=dict[str, Any],
            description=_DESCRIPTIONS.get(code, ""),
            examples=[Example(summary=_DESCRIPTIONS.get(code, ""), value=example)],
        )
    return out


def _code_for(status: int) -> str:
    return {
        401: "unauthorized",
        404: "not_found",
        409: "idempotency_conflict",
        413: "payload_too_large",
        415: "unsupported_media_type",
        422: "invalid_input",
        503: "unavailable",
    }.get(status, "internal")
