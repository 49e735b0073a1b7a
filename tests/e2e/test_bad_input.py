"""Bad input through real servers of both deployments: the envelope, statuses and limits the
edge and each deployment's stores give. Every case of the table also runs in-process
(`tests/unit/test_request_envelopes.py`); here runs a share that crosses each layer."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.conftest import ServerProcess
from tests.support.bad_requests import CASES, JOB_CASES, OK, BadRequest, assert_envelope


@pytest.fixture(scope="module")
def server(shared_server: ServerProcess) -> ServerProcess:
    """Bad input stores nothing, so one server per deployment serves the whole module."""
    return shared_server


def _jobs_total(server: ServerProcess) -> int:
    text = httpx.get(f"{server.url}/metrics").text
    return sum(
        int(float(v)) for v in re.findall(r'^dreamforge_jobs\{state="\w+"\} (\S+)$', text, re.M)
    )


# One per layer a request crosses: the core's validation, the JSON decoding, the content type
# and the body limit of the app, the header check, the stores' lookups, the router.
THROUGH_SERVERS = {
    "missing prompt",
    "invalid JSON",
    "not JSON content type",
    "oversized body",
    "bad Idempotency-Key",
    "unknown model id",
    "unknown job id",
    "unknown route",
}
SERVER_CASES = [c for c in CASES if c.name in THROUGH_SERVERS]
SERVER_JOB_CASES = [c for c in JOB_CASES if c[0] in {"bad tail", "bad ttl"}]


@pytest.mark.parametrize("case", SERVER_CASES, ids=[c.name for c in SERVER_CASES])
def test_bad_request_gets_an_envelope_and_creates_no_job(
    server: ServerProcess, case: BadRequest
) -> None:
    before = _jobs_total(server)
    case.check(httpx.request(case.method, f"{server.url}{case.path}", **case.kwargs()))
    assert _jobs_total(server) == before


@pytest.mark.parametrize(
    ("name", "suffix", "names"), SERVER_JOB_CASES, ids=[c[0] for c in SERVER_JOB_CASES]
)
def test_bad_query_values_on_a_job(
    server: ServerProcess, name: str, suffix: str, names: str
) -> None:
    job = httpx.post(f"{server.url}/v1/jobs", json={"params": OK}).json()
    response = httpx.get(f"{server.url}/v1/jobs/{job['id']}{suffix}")
    assert_envelope(response, 422, "invalid_input", names)


def test_a_bad_last_event_id_is_refused_beside_a_good_header(server: ServerProcess) -> None:
    job = httpx.post(f"{server.url}/v1/jobs", json={"params": OK}).json()
    response = httpx.get(
        f"{server.url}/v1/jobs/{job['id']}/progress/stream?last_event_id=-1",
        headers={"Last-Event-ID": "0"},
    )
    assert_envelope(response, 422, "invalid_input", "last_event_id")


def test_a_wrong_method_gets_405_naming_the_allowed_ones(server: ServerProcess) -> None:
    response = httpx.request("TRACE", f"{server.url}/v1/models")
    assert_envelope(response, 405, "method_not_allowed", "")
    assert "GET" in response.headers["allow"]  # RFC 9110 requires Allow on 405


def test_client_correlation_id_is_reused(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/v1/jobs/nope", headers={"X-Correlation-ID": "abc-123"})
    assert response.headers["x-correlation-id"] == "abc-123"
    assert response.json()["error"]["correlation_id"] == "abc-123"
