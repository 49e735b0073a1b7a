"""Bad input gets a 4xx envelope naming the problem, and stores nothing.

It is one module because it is one catalogue of bad requests against one running server, with
the same envelope checks for each.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.conftest import ServerProcess


@pytest.fixture(scope="module")
def server(shared_server: ServerProcess) -> ServerProcess:
    """Bad input stores nothing, so one server per deployment serves the whole module."""
    return shared_server


OK = {"prompt": "p", "width": 64, "height": 64, "steps": 2}

# (name, method, path, body or raw bytes, headers, status, code, text the error must name)
CASES = [
    (
        "missing prompt",
        "POST",
        "/v1/jobs",
        {"params": {"count": 1}},
        {},
        422,
        "invalid_input",
        "params.prompt",
    ),
    (
        "empty prompt",
        "POST",
        "/v1/jobs",
        {"params": {"prompt": "  "}},
        {},
        422,
        "invalid_input",
        "params.prompt",
    ),
    (
        "count 0",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "count": 0}},
        {},
        422,
        "invalid_input",
        "params.count",
    ),
    (
        "count 101",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "count": 101}},
        {},
        422,
        "invalid_input",
        "params.count",
    ),
    (
        "width not multiple of 8",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "width": 100}},
        {},
        422,
        "invalid_input",
        "params.width",
    ),
    (
        "oversize height",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "height": 4096}},
        {},
        422,
        "invalid_input",
        "params.height",
    ),
    (
        "steps 0",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "steps": 0}},
        {},
        422,
        "invalid_input",
        "params.steps",
    ),
    (
        "guidance too high",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "guidance": 99}},
        {},
        422,
        "invalid_input",
        "params.guidance",
    ),
    (
        "unknown scheduler",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "scheduler": "lms"}},
        {},
        422,
        "invalid_input",
        "params.scheduler",
    ),
    (
        "unknown param",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "sampler": "x"}},
        {},
        422,
        "invalid_input",
        "params.sampler",
    ),
    (
        "unknown top-level field",
        "POST",
        "/v1/jobs",
        {"params": OK, "priority": 1},
        {},
        422,
        "invalid_input",
        "priority",
    ),
    (
        "steps as string",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "steps": "20"}},
        {},
        422,
        "invalid_input",
        "params.steps",
    ),
    (
        "count as bool",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "count": True}},
        {},
        422,
        "invalid_input",
        "params.count",
    ),
    (
        "seed negative",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "seed": -1}},
        {},
        422,
        "invalid_input",
        "params.seed",
    ),
    (
        "bad format",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "format": "gif"}},
        {},
        422,
        "invalid_input",
        "params.format",
    ),
    (
        "params not an object",
        "POST",
        "/v1/jobs",
        {"params": "draw a cat"},
        {},
        422,
        "invalid_input",
        "params",
    ),
    ("body not an object", "POST", "/v1/jobs", [1, 2], {}, 422, "invalid_input", "body"),
    (
        "invalid JSON",
        "POST",
        "/v1/jobs",
        b'{"params": {"prompt": "p",}',
        {},
        422,
        "invalid_input",
        "body",
    ),
    (
        "not JSON content type",
        "POST",
        "/v1/jobs",
        b"prompt=p",
        {"content-type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
        "application/json",
    ),
    (
        "oversized body",
        "POST",
        "/v1/jobs",
        {"params": {**OK, "prompt": "x" * (1024 * 1024 + 10)}},
        {},
        413,
        "payload_too_large",
        "size limit",
    ),
    (
        "bad Idempotency-Key",
        "POST",
        "/v1/jobs",
        {"params": OK},
        {"idempotency-key": "x" * 256},
        422,
        "invalid_input",
        "Idempotency-Key",
    ),
    (
        "unknown model id",
        "POST",
        "/v1/jobs",
        {"model_id": "nope", "params": OK},
        {},
        422,
        "invalid_input",
        "model_id",
    ),
    (
        "unknown provider",
        "POST",
        "/v1/jobs",
        {"provider": "dalle", "params": OK},
        {},
        422,
        "invalid_input",
        "provider",
    ),
    (
        "unknown job id",
        "GET",
        "/v1/jobs/does-not-exist",
        None,
        {},
        404,
        "not_found",
        "does-not-exist",
    ),
    (
        "unknown job artifacts",
        "GET",
        "/v1/jobs/does-not-exist/artifacts",
        None,
        {},
        404,
        "not_found",
        "does-not-exist",
    ),
    ("unknown model", "GET", "/v1/models/nope", None, {}, 404, "not_found", "nope"),
    ("unknown route", "GET", "/v1/nothing-here", None, {}, 404, "not_found", ""),
    (
        "bad include_disabled",
        "GET",
        "/v1/models?include_disabled=maybe",
        None,
        {},
        422,
        "invalid_input",
        "include_disabled",
    ),
]

JOB_CASES = [
    ("bad since_ts", "/logs?since_ts=yesterday", "since_ts"),
    ("since_ts before year 1 in UTC", "/logs?since_ts=0001-01-01T00:00:00%2B01:00", "since_ts"),
    ("bad tail", "/logs?tail=-3", "tail"),
    ("tail not a number", "/logs?tail=ten", "tail"),
    ("bad ttl", "/artifacts?ttl=0", "ttl"),
    ("bad last_event_id", "/progress/stream?last_event_id=abc", "last_event_id"),
]


def _jobs_total(server: ServerProcess) -> int:
    text = httpx.get(f"{server.url}/metrics").text
    return sum(
        int(float(v)) for v in re.findall(r'^dreamforge_jobs\{state="\w+"\} (\S+)$', text, re.M)
    )


def _assert_envelope(response: httpx.Response, status: int, code: str, names: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["correlation_id"] == response.headers["x-correlation-id"]
    assert names in error["message"] + str(error["details"])
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "headers", "status", "code", "names"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_bad_request_gets_an_envelope_and_creates_no_job(
    server: ServerProcess,
    name: str,
    method: str,
    path: str,
    body: object,
    headers: dict[str, str],
    status: int,
    code: str,
    names: str,
) -> None:
    before = _jobs_total(server)
    kwargs: dict[str, object] = {"headers": headers}
    if isinstance(body, bytes):
        kwargs["content"] = body
    elif body is not None:
        kwargs["json"] = body
    response = httpx.request(method, f"{server.url}{path}", **kwargs)  # type: ignore[arg-type]
    _assert_envelope(response, status, code, names)
    assert _jobs_total(server) == before


@pytest.mark.parametrize(("name", "suffix", "names"), JOB_CASES, ids=[c[0] for c in JOB_CASES])
def test_bad_query_values_on_a_job(
    server: ServerProcess, name: str, suffix: str, names: str
) -> None:
    job = httpx.post(f"{server.url}/v1/jobs", json={"params": OK}).json()
    response = httpx.get(f"{server.url}/v1/jobs/{job['id']}{suffix}")
    _assert_envelope(response, 422, "invalid_input", names)


def test_a_bad_last_event_id_is_refused_beside_a_good_header(server: ServerProcess) -> None:
    job = httpx.post(f"{server.url}/v1/jobs", json={"params": OK}).json()
    response = httpx.get(
        f"{server.url}/v1/jobs/{job['id']}/progress/stream?last_event_id=-1",
        headers={"Last-Event-ID": "0"},
    )
    _assert_envelope(response, 422, "invalid_input", "last_event_id")


def test_a_wrong_method_gets_405_naming_the_allowed_ones(server: ServerProcess) -> None:
    response = httpx.request("TRACE", f"{server.url}/v1/models")
    _assert_envelope(response, 405, "method_not_allowed", "")
    assert "GET" in response.headers["allow"]  # RFC 9110 requires Allow on 405


def test_client_correlation_id_is_reused(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/v1/jobs/nope", headers={"X-Correlation-ID": "abc-123"})
    assert response.headers["x-correlation-id"] == "abc-123"
    assert response.json()["error"]["correlation_id"] == "abc-123"


def test_many_errors_are_reported_together(server: ServerProcess) -> None:
    response = httpx.post(
        f"{server.url}/v1/jobs",
        json={"params": {"prompt": "", "count": 0, "width": 7, "scheduler": "x"}},
    )
    fields = {e["field"] for e in response.json()["error"]["details"]["errors"]}
    assert fields == {"params.prompt", "params.count", "params.width", "params.scheduler"}
