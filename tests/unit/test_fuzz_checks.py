"""The fuzz's own checks: they must pass the envelope and catch what is not."""

from __future__ import annotations

import json

from tests.fuzz.hooks import envelope_problems

HEADERS = {"x-correlation-id": "c1"}


def _body(**error: object) -> str:
    base = {"code": "not_found", "message": "no job", "details": {}, "correlation_id": "c1"}
    return json.dumps({"error": {**base, "job_id": None, **error}})


def test_the_envelope_passes() -> None:
    assert envelope_problems(404, HEADERS, _body()) == []


def test_a_code_that_does_not_go_with_the_status_is_caught() -> None:
    assert envelope_problems(500, HEADERS, _body())


def test_another_correlation_id_is_caught() -> None:
    assert envelope_problems(404, {"x-correlation-id": "c2"}, _body())


def test_litestar_s_own_error_body_is_caught() -> None:
    body = json.dumps({"status_code": 400, "detail": "Bad Request"})
    assert envelope_problems(400, HEADERS, body)


def test_a_validation_error_must_name_a_field() -> None:
    assert envelope_problems(422, HEADERS, _body(code="invalid_input"))
