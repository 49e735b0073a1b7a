"""Bad input gets a 4xx envelope naming the problem, and stores nothing: every case, against
the HTTP API as the containers build it, in this process (`tests/e2e/test_bad_input.py`
sends a share of them through real servers of both deployments)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.bad_requests import CASES, JOB_CASES, OK, BadRequest, assert_envelope
from tests.support.inprocess_api import InProcessApi, inprocess_api


@pytest.fixture(scope="module")
def api() -> Iterator[InProcessApi]:
    with inprocess_api() as api:
        yield api


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_request_gets_an_envelope_and_creates_no_job(
    api: InProcessApi, case: BadRequest
) -> None:
    before = api.job_count()
    case.check(api.client.request(case.method, case.path, **case.kwargs()))
    assert api.job_count() == before


@pytest.mark.parametrize(("name", "suffix", "names"), JOB_CASES, ids=[c[0] for c in JOB_CASES])
def test_bad_query_values_on_a_job(api: InProcessApi, name: str, suffix: str, names: str) -> None:
    job = api.client.post("/v1/jobs", json={"params": OK}).json()
    response = api.client.get(f"/v1/jobs/{job['id']}{suffix}")
    assert_envelope(response, 422, "invalid_input", names)


def test_a_bad_last_event_id_is_refused_beside_a_good_header(api: InProcessApi) -> None:
    job = api.client.post("/v1/jobs", json={"params": OK}).json()
    response = api.client.get(
        f"/v1/jobs/{job['id']}/progress/stream?last_event_id=-1", headers={"Last-Event-ID": "0"}
    )
    assert_envelope(response, 422, "invalid_input", "last_event_id")


def test_a_wrong_method_gets_405_naming_the_allowed_ones(api: InProcessApi) -> None:
    response = api.client.request("TRACE", "/v1/models")
    assert_envelope(response, 405, "method_not_allowed", "")
    assert "GET" in response.headers["allow"]  # RFC 9110 requires Allow on 405


def test_client_correlation_id_is_reused(api: InProcessApi) -> None:
    response = api.client.get("/v1/jobs/nope", headers={"X-Correlation-ID": "abc-123"})
    assert response.headers["x-correlation-id"] == "abc-123"
    assert response.json()["error"]["correlation_id"] == "abc-123"


def test_many_errors_are_reported_together(api: InProcessApi) -> None:
    response = api.client.post(
        "/v1/jobs", json={"params": {"prompt": "", "count": 0, "width": 7, "scheduler": "x"}}
    )
    fields = {e["field"] for e in response.json()["error"]["details"]["errors"]}
    assert fields == {"params.prompt", "params.count", "params.width", "params.scheduler"}
