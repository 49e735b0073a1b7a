"""Schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS): the contract's error
envelope as a check on every 4xx/5xx answer."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import schemathesis

ENVELOPE_KEYS = {"code", "message", "details", "correlation_id", "job_id"}
# The contract's codes and statuses, read from the table of docs/api.md's "Errors".
_ERROR_ROW = re.compile(r"^\| `(\w+)` \| (\d{3}) \|", re.MULTILINE)
_API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
STATUS_BY_CODE = {code: int(status) for code, status in _ERROR_ROW.findall(_API_DOC.read_text())}


def envelope_problems(status: int, headers: dict[str, str], text: str) -> list[str]:
    """What keeps an error answer from being in the envelope; empty when it is."""
    try:
        body: Any = json.loads(text)
    except ValueError:
        return [f"the body is not JSON: {text[:200]!r}"]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or set(body) != {"error"}:
        return [f'the body is not {{"error": {{...}}}}: {text[:200]!r}']
    problems = []
    if set(error) != ENVELOPE_KEYS:
        problems.append(f"`error` has keys {sorted(error)}, not {sorted(ENVELOPE_KEYS)}")
    code = error.get("code")
    if STATUS_BY_CODE.get(code) != status:  # type: ignore[arg-type]
        problems.append(f"code {code!r} does not go with status {status}")
    if not isinstance(error.get("message"), str) or not error.get("message"):
        problems.append("`message` is not a non-empty string")
    if not isinstance(error.get("details"), dict):
        problems.append("`details` is not an object")
    if not (error.get("job_id") is None or isinstance(error.get("job_id"), str)):
        problems.append("`job_id` is neither a string nor null")
    correlation = headers.get("x-correlation-id")
    if not correlation or error.get("correlation_id") != correlation:
        problems.append("`correlation_id` differs from the X-Correlation-ID header")
    if code == "invalid_input" and not error.get("details"):
        problems.append("a validation error names no field in `details`")
    return problems


@schemathesis.check
def error_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code < 400:
        return None
    headers = {k.lower(): v[0] if isinstance(v, list) else v for k, v in response.headers.items()}
    problems = envelope_problems(response.status_code, headers, response.text)
    if problems:
        raise AssertionError("not the contract's error envelope: " + "; ".join(problems))
    return True


# What a schema-valid create request may still be refused for (see schemathesis.toml): what
# the registry decides (a model, a LoRA of the model's family, named once), not the schema.
ALLOWED_VALID_REJECTIONS = {"type", "model_id"}
_LORA_ID = re.compile(r"params\.loras\[\d+\]\.model_id")


@schemathesis.check
def create_job_rejections(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = getattr(case, "meta", None)
    positive = meta is not None and meta.generation.mode.is_positive
    if not positive or response.status_code != 422 or case.operation.label != "POST /v1/jobs":
        return None
    errors = json.loads(response.text)["error"]["details"].get("errors", [])
    fields = {
        e.get("field")
        for e in errors
        if not _integral_float(case.body, e) and not _LORA_ID.fullmatch(str(e.get("field")))
    }
    if errors and not fields:
        return True
    if not fields or not fields <= ALLOWED_VALID_REJECTIONS:
        raise AssertionError(f"a schema-valid create request was refused for {sorted(fields)}")
    return True


def _integral_float(body: Any, error: dict[str, Any]) -> bool:
    """A "must be an integer" refusal of a value sent as 8.0: JSON Schema counts it as an
    integer, the server reads the number as written (the document says so)."""
    field = str(error.get("field", ""))
    if error.get("message") != "must be an integer" or not field.startswith("params."):
        return False
    params = body.get("params") if isinstance(body, dict) else None
    value = params.get(field.removeprefix("params.")) if isinstance(params, dict) else None
    return isinstance(value, float) and value.is_integer()
