"""JSON Schemas of the API.md resources and query values, for the OpenAPI document.

The handlers return plain dicts and read query values as text (the core validates them, so
that a bad value gets the envelope naming its field), so Litestar can infer neither; these
say what API.md says. Litestar drops dict entries whose value is None when it writes the
document, so no schema here uses None as a value.
"""

from __future__ import annotations

from typing import Any

from dreamforge_adapters.http.errors import STATUS_BY_CODE


def _obj(required: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """An object with these required properties; more may be added (API.md allows additions)."""
    return {"type": "object", "required": list(required), "properties": {**required, **optional}}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


STRING = {"type": "string"}
TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = _nullable(TIME)
STATE = {"type": "string", "enum": ["queued", "running", "succeeded", "failed"]}
FRACTION = {"type": "number", "minimum": 0, "maximum": 1}
COUNT = {"type": "integer", "minimum": 0}
ERROR_INFO = _obj({"code": STRING, "message": STRING})

ERROR = _obj(
    {
        "error": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "message", "details", "correlation_id", "job_id"],
            "properties": {
                "code": {"type": "string", "enum": sorted(STATUS_BY_CODE)},
                "message": {"type": "string", "minLength": 1},
                "details": {"type": "object"},
                "correlation_id": STRING,
                "job_id": _nullable(STRING),
            },
        }
    }
)

STEP = _obj(
    {
        "id": STRING,
        "name": STRING,
        "state": STATE,
        "attempts": COUNT,
        "last_error": _nullable(ERROR_INFO),
        "started_at": TIME_OR_NULL,
        "finished_at": TIME_OR_NULL,
    }
)
JOB = _obj(
    {
        "id": STRING,
        "type": {"type": "string", "enum": ["generate", "model_download"]},
        "provider": STRING,
        "model_id": STRING,
        "checkpoint_hash": _nullable(STRING),
        "state": STATE,
        "params": {"type": "object"},
        "count": {"type": "integer", "minimum": 1},
        "progress": FRACTION,
        "attempts": COUNT,
        "error": _nullable(ERROR_INFO),
        "created_at": TIME,
        "updated_at": TIME,
        "started_at": TIME_OR_NULL,
        "finished_at": TIME_OR_NULL,
        "steps": {"type": "array", "items": STEP},
        "links": _obj(dict.fromkeys(("self", "artifacts", "logs", "progress", "stream"), STRING)),
        "schema_version": {"type": "integer"},
    }
)
ARTIFACTS = _obj(
    {
        "items": {
            "type": "array",
            "items": _obj(
                {
                    "id": STRING,
                    "item_index": COUNT,
                    "step": STRING,
                    "key": STRING,
                    "url": {"type": "string", "format": "uri"},
                    "url_expires_at": TIME,
                    "content_type": STRING,
                    "format": STRING,
                    "width": _nullable(COUNT),
                    "height": _nullable(COUNT),
                    "seed": _nullable(COUNT),
                    "size_bytes": COUNT,
                    "sha256": STRING,
                    "checkpoint_hash": _nullable(STRING),
                    "created_at": TIME,
                }
            ),
        }
    }
)
PROGRESS = _obj(
    {
        "job_id": STRING,
        "state": STATE,
        "progress": FRACTION,
        "stages": {
            "type": "array",
            "items": _obj({"name": STRING, "weight": FRACTION, "progress": FRACTION}),
        },
        "items": {
            "type": "array",
            "items": _obj({"item_index": COUNT, "state": STRING, "progress": FRACTION}),
        },
        "updated_at": TIME,
    }
)
_MODEL_SUMMARY = {
    "id": STRING,
    "name": STRING,
    "kind": STRING,
    "version": STRING,
    "installed": {"type": "boolean"},
    "enabled": {"type": "boolean"},
    "parameters_schema": {"type": "object"},
}
MODELS = _obj({"items": {"type": "array", "items": _obj(_MODEL_SUMMARY)}})
MODEL = _obj(
    {
        **_MODEL_SUMMARY,
        "checkpoint_hash": _nullable(STRING),
        "source_uri": _nullable(STRING),
        "local_path": _nullable(STRING),
        "capabilities": {"type": "array", "items": STRING},
        "provenance": {"type": "object"},
        "created_at": TIME,
        "updated_at": TIME,
        "schema_version": {"type": "integer"},
    }
)
READY = _obj({"status": {"const": "ready"}, "checks": {"type": "object"}})
HEALTH = _obj({"status": {"const": "ok"}})

# Query and header values, as the core reads them.
PARAMETERS: dict[str, dict[str, Any]] = {
    "ttl": {"type": "integer", "minimum": 1, "description": "URL lifetime in seconds"},
    "tail": {"type": "integer", "minimum": 0, "description": "Keep the last N events"},
    "since_ts": {**TIME, "description": "Keep events with ts >= since_ts"},
    "include_disabled": {"type": "boolean", "default": False},
    "last_event_id": {"type": "integer", "minimum": 0},
    "Last-Event-ID": {"type": "integer", "minimum": 0},
    "Idempotency-Key": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[ -~]+$",
    },
}
