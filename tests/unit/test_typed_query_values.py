"""Typed query values are refused by Litestar before a handler runs; the refusal is the
envelope's `422 invalid_input` naming the value, like the core's own refusals."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from litestar.testing import TestClient

from dreamforge_adapters.http.app import build_litestar
from dreamforge_adapters.http.services import ApiServices, HttpSettings

REFUSED = [
    ("/v1/jobs/j/artifacts?ttl=0", "ttl"),
    ("/v1/jobs/j/artifacts?ttl=abc", "ttl"),
    ("/v1/jobs/j/artifacts?ttl=", "ttl"),
    ("/v1/jobs/j/artifacts?ttl=null", "ttl"),
    ("/v1/jobs/j/artifacts?ttl=99999999999999999999", "ttl"),
    ("/v1/jobs/j/logs?tail=-1", "tail"),
    ("/v1/jobs/j/logs?tail=ten", "tail"),
    ("/v1/jobs/j/logs?tail=null", "tail"),
    ("/v1/models?include_disabled=maybe", "include_disabled"),
]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient[Any]]:
    # a refused value never reaches a service: none is given
    services = cast(ApiServices, SimpleNamespace(metrics=SimpleNamespace(error=lambda _: None)))
    with TestClient(build_litestar(services, HttpSettings())) as client:
        yield client


@pytest.mark.parametrize(("path", "field"), REFUSED)
def test_a_bad_query_value_gets_the_envelope_naming_it(
    client: TestClient[Any], path: str, field: str
) -> None:
    response = client.get(path)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert [e["field"] for e in error["details"]["errors"]] == [field]
    assert error["message"].startswith(f"invalid request: {field}: must be")
