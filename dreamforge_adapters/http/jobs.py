"""`/v1/jobs` routes. Handlers call use cases directly: on the embedded store each call is a
sub-millisecond local transaction, cheaper inline than a thread hop."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from dreamforge_adapters.http import presenters
from dreamforge_adapters.http.asgi import request_caller
from dreamforge_adapters.http.blocking import call
from dreamforge_adapters.http.errors import QUERY_INT_MAX, VALUE_RULES
from dreamforge_adapters.http.openapi import (
    EXAMPLE_JOB,
    CreateJobOperation,
    documented,
    optional_value,
)
from dreamforge_adapters.http.services import MAX_IMAGE_BODY_BYTES, ApiServices, HttpSettings
from dreamforge_adapters.http.shapes import ArtifactList, Job, Progress
from dreamforge_core.domain.image_inputs import INPUT_FIELDS
from dreamforge_core.errors import FieldError, InvalidInput, PayloadTooLarge, UnsupportedMediaType
from dreamforge_core.use_cases.create_job import CreateJobCommand, CreateJobResult

_JSON = "application/json"

log = logging.getLogger(__name__)


def services(state: State) -> ApiServices:
    return state["services"]  # type: ignore[no-any-return]


def public_root(request: Request[Any, Any, Any]) -> str:
    settings: HttpSettings = request.app.state["http_settings"]
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def _decode_json(request: Request[Any, Any, Any], body: bytes) -> Any:
    content_type = request.headers.get("content-type", _JSON).split(";")[0].strip().lower()
    if content_type != _JSON and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"send the body as {_JSON}, not {content_type!r}")
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as e:
        raise InvalidInput.for_fields([FieldError("body", f"is not valid JSON: {e}")]) from None


def _refuse_null(request: Request[Any, Any, Any], **values: object) -> None:
    """Litestar reads `?ttl=null` as an absent `int | None` value; the API refuses it as it
    refuses any value that is not an integer."""
    refused = [n for n, v in values.items() if v is None and n in request.query_params]
    if refused:
        raise InvalidInput.for_fields([FieldError(n, VALUE_RULES[n]) for n in refused])


def _carries_images(body: Any) -> bool:
    params = body.get("params") if isinstance(body, dict) else None
    return isinstance(params, dict) and any(
        isinstance(params.get(name), str) for name in INPUT_FIELDS
    )


def _check_size(request: Request[Any, Any, Any], raw: bytes, body: Any) -> None:
    """Only a request carrying an image may use the larger limit the route admits."""
    settings: HttpSettings = request.app.state["http_settings"]
    if len(raw) > settings.max_body_bytes and not _carries_images(body):
        raise PayloadTooLarge(
            f"request body exceeds the size limit ({settings.max_body_bytes // 2**20} MiB; "
            f"{MAX_IMAGE_BODY_BYTES // 2**20} MiB for a request carrying images)"
        )


@post(
    "/v1/jobs",
    status_code=202,
    request_max_body_size=MAX_IMAGE_BODY_BYTES,
    **documented(
        *(202, 403, 409, 413, 415, 422, 429),
        ok=Job,
        ok_example=EXAMPLE_JOB,
        summary="Create a generation job",
        tag="jobs",
        operation=CreateJobOperation,
    ),
)
async def create_job(
    request: Request[Any, Any, Any],
    state: State,
    idempotency_key: Annotated[
        str | None,
        Parameter(
            header="Idempotency-Key",
            description="1..255 printable ASCII characters; a "
            "repeat within the window returns the original job",
            # checked by the core, which names the header in its refusal
            schema_extra=optional_value("string", minLength=1, maxLength=255, pattern="^[ -~]+$"),
        ),
    ] = None,
) -> Response[Job]:
    raw = await request.body()
    body = _decode_json(request, raw)
    _check_size(request, raw, body)
    command = CreateJobCommand(
        body=body, idempotency_key=idempotency_key, caller=request_caller(request.scope)
    )
    api = services(state)

    def create() -> tuple[CreateJobResult, int | None]:  # one trip off the event loop
        result = api.create_job(command)
        return result, api.jobs.queue_position(result.job)

    result, position = await call(state, create)
    # links the request's correlation id to the job id that the worker's lines carry
    log.info(
        "job %s %s",
        result.job.id,
        "replayed" if result.replayed else "accepted",
        extra={"job_id": result.job.id},
    )
    headers = {"Location": f"/v1/jobs/{result.job.id}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(presenters.job(result.job, position), status_code=202, headers=headers)


@get(
    "/v1/jobs/{job_id:str}",
    **documented(200, 404, ok=Job, ok_example=EXAMPLE_JOB, summary="Job status", tag="jobs"),
)
async def get_job(job_id: str, state: State) -> Job:
    return presenters.job(*await call(state, services(state).jobs.job_with_position, job_id))


@post(
    "/v1/jobs/{job_id:str}/cancel",
    status_code=202,
    **documented(
        *(202, 404, 409),
        ok=Job,
        ok_example=EXAMPLE_JOB,
        summary="Cancel a job",
        tag="jobs",
        description="A queued job never runs; a running job stops at its runner's next "
        "denoising step. Finished items keep their artifacts. Cancelling a canceled job "
        "answers 202 again; a succeeded or failed job answers 409 invalid_state.",
    ),
)
async def cancel_job(job_id: str, state: State) -> Job:
    job = await call(state, services(state).cancel_job, job_id)
    log.info("job %s canceled", job.id, extra={"job_id": job.id})
    return presenters.job(job)


@get(
    "/v1/jobs/{job_id:str}/artifacts",
    **documented(
        200, 404, 422, ok=ArtifactList, summary="Artifacts with expiring URLs", tag="jobs"
    ),
)
async def list_artifacts(
    request: Request[Any, Any, Any],
    job_id: str,
    state: State,
    ttl: Annotated[
        int | None,
        Parameter(
            ge=1,
            le=QUERY_INT_MAX,
            description="URL lifetime in seconds (clamped)",
            schema_extra=optional_value("integer"),
        ),
    ] = None,
) -> ArtifactList:
    _refuse_null(request, ttl=ttl)
    signed = await call(state, services(state).jobs.artifacts, job_id, ttl, public_root(request))
    return ArtifactList(items=[presenters.artifact(a, url) for a, url in signed])


@get(
    "/v1/jobs/{job_id:str}/logs",
    media_type="application/x-ndjson",
    **documented(404, 422, summary="Job events as NDJSON, oldest first", tag="jobs"),
)
async def job_logs(
    request: Request[Any, Any, Any],
    job_id: str,
    state: State,
    tail: Annotated[
        int | None,
        Parameter(
            ge=0,
            le=QUERY_INT_MAX,
            description="Keep the last N events",
            # Litestar leaves out a bound of 0
            schema_extra=optional_value("integer", minimum=0),
        ),
    ] = None,
    since_ts: Annotated[
        str | None,
        Parameter(
            description="Keep events with ts >= since_ts",
            # read by the core, which accepts more ISO 8601 forms than one format names
            schema_extra=optional_value("string", format="date-time"),
        ),
    ] = None,
) -> Response[bytes]:
    _refuse_null(request, tail=tail)
    events = await call(state, services(state).jobs.logs, job_id, tail, since_ts)
    lines = b"".join(msgspec.json.encode(e.to_dict(), enc_hook=str) + b"\n" for e in events)
    return Response(lines, media_type="application/x-ndjson")


@get(
    "/v1/jobs/{job_id:str}/progress",
    **documented(200, 404, ok=Progress, summary="Aggregate and per-item progress", tag="jobs"),
)
async def job_progress(job_id: str, state: State) -> Progress:
    return presenters.progress(await call(state, services(state).jobs.job, job_id))
