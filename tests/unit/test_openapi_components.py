"""The OpenAPI document names the API's bodies as components (the names a generated client
uses), and every JSON answer of a /v1 route refers to one."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import msgspec
import pytest

from dreamforge_adapters.http.app import build_litestar
from dreamforge_adapters.http.services import ApiServices, HttpSettings

NAMED = {
    "Job",
    "JobStep",
    "JobLinks",
    "Artifact",
    "ArtifactList",
    "Progress",
    "ModelSummary",
    "ModelList",
    "ModelDescriptor",
    "ErrorEnvelope",
}


class _Metrics:
    def error(self, code: str) -> None: ...


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # the document is built from the handlers' types: no service is called
    services = cast(ApiServices, SimpleNamespace(metrics=_Metrics()))
    app = build_litestar(services, HttpSettings())
    built: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(app.openapi_schema.to_schema()))
    return built


def _json_answers(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, status, answer["content"]["application/json"]["schema"])
        for path, operations in document["paths"].items()
        if path.startswith("/v1/")
        for operation in operations.values()
        for status, answer in operation["responses"].items()
        if "application/json" in (answer.get("content") or {})
    ]


def test_the_bodies_are_named_components(document: dict[str, Any]) -> None:
    assert set(document["components"]["schemas"]) >= NAMED


def test_every_json_answer_of_v1_refers_to_a_component(document: dict[str, Any]) -> None:
    answers = _json_answers(document)
    assert {status for _, status, _ in answers} >= {"200", "202", "404", "422"}
    for path, status, schema in answers:
        name = schema.get("$ref", "").removeprefix("#/components/schemas/")
        assert name in document["components"]["schemas"], (path, status, schema)
        assert (name == "ErrorEnvelope") == (int(status) >= 400), (path, status, name)


def test_the_streams_and_the_create_body_stay_explicit(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert (
        "application/x-ndjson"
        in paths["/v1/jobs/{job_id}/logs"]["get"]["responses"]["200"]["content"]
    )
    stream = paths["/v1/jobs/{job_id}/progress/stream"]["get"]["responses"]["200"]
    assert "text/event-stream" in stream["content"]
    body = paths["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert [branch["title"] for branch in body["oneOf"]] == ["generate", "model_download"]
    generate, download = body["oneOf"]
    assert generate["properties"]["priority"]["enum"] == ["low", "normal", "high"]
    for branch in (generate, download):  # both job types take a webhook
        events = branch["properties"]["webhook_events"]
        assert events["items"]["enum"] == ["started", "item_completed", "completed"]
        assert events["default"] == ["completed"]
        assert branch["properties"]["webhook"]["format"] == "uri"


def test_query_values_carry_their_bounds(document: dict[str, Any]) -> None:
    def parameter(path: str, name: str) -> dict[str, Any]:
        [found] = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
        schema: dict[str, Any] = found["schema"]
        return schema

    ttl = parameter("/v1/jobs/{job_id}/artifacts", "ttl")
    assert (ttl["type"], ttl["minimum"]) == ("integer", 1)
    tail = parameter("/v1/jobs/{job_id}/logs", "tail")
    assert (tail["type"], tail["minimum"]) == ("integer", 0)
    assert parameter("/v1/models", "include_disabled")["type"] == "boolean"
