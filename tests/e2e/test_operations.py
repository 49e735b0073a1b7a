"""Health, readiness, metrics, OpenAPI, models, auth and the bind guard."""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Any

import httpx
import jsonschema
import pytest

from tests.e2e.conftest import ServerProcess, StackServer


def test_health_ready_metrics_and_schema(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/ready").json()
    assert ready["checks"] == dict.fromkeys(server.ready_checks, "ok")
    httpx.post(f"{server.url}/v1/jobs", json={"params": {"prompt": "p", "count": 0}})
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'dreamforge_jobs{state="queued"}' in metrics
    assert "dreamforge_http_request_duration_seconds_bucket" in metrics
    assert 'dreamforge_errors_total{code="invalid_input"}' in metrics
    schema = httpx.get(f"{server.url}/schema/openapi.json").json()
    body = schema["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]
    generate, download = body["schema"]["oneOf"]
    assert "params" in generate["properties"]
    assert download["properties"]["type"]["enum"] == ["model_download"]
    assert body["examples"]
    for path in (
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/artifacts",
        "/v1/jobs/{job_id}/logs",
        "/v1/jobs/{job_id}/progress",
        "/v1/jobs/{job_id}/progress/stream",
        "/v1/models",
        "/v1/models/{model_id}",
    ):
        assert path in schema["paths"], path
    assert httpx.get(f"{server.url}/schema").status_code == 200


def test_models_list_and_descriptor(server: ServerProcess) -> None:
    items = httpx.get(f"{server.url}/v1/models").json()["items"]
    assert items
    assert {
        "id",
        "name",
        "kind",
        "version",
        "installed",
        "enabled",
        "parameters_schema",
    } <= set(items[0])
    model = httpx.get(f"{server.url}/v1/models/{items[0]['id']}").json()
    assert len(model["checkpoint_hash"]) == 64
    assert model["parameters_schema"]["properties"]["count"]["maximum"] == 100
    job = httpx.post(
        f"{server.url}/v1/jobs", json={"model_id": model["id"], "params": {"prompt": "p"}}
    ).json()
    assert job["model_id"] == model["id"]


def test_api_keys_close_v1_but_not_operations(make_server: object) -> None:
    server: ServerProcess = make_server(DREAMFORGE_API_KEYS="k1,k2")  # type: ignore[operator]
    server.start()
    denied = httpx.get(f"{server.url}/v1/models")
    assert denied.status_code == 401
    assert denied.json()["error"]["code"] == "unauthorized"
    assert (
        httpx.get(f"{server.url}/v1/models", headers={"Authorization": "Bearer wrong"}).status_code
        == 401
    )
    assert (
        httpx.get(f"{server.url}/v1/models", headers={"Authorization": "Bearer k2"}).status_code
        == 200
    )
    assert httpx.get(f"{server.url}/health").status_code == 200


@pytest.mark.embedded_only
def test_refuses_public_bind_without_keys(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dreamforge_apps.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "DREAMFORGE_RUNNER": "fake",
            "DREAMFORGE_DATA_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        },
    )
    assert result.returncode != 0
    assert "API keys" in result.stderr


def _schema(document: dict[str, Any], path: str, status: str) -> dict[str, Any]:
    answer = document["paths"][path]["get"]["responses"][status]
    schema: dict[str, Any] = answer["content"]["application/json"]["schema"]
    return schema


def test_the_openapi_document_describes_the_answers(server: ServerProcess) -> None:
    document = httpx.get(f"{server.url}/schema/openapi.json").json()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            assert "400" not in operation["responses"], path  # validation errors are 422
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema["required"] == ["error"], (path, status)
    job = httpx.post(f"{server.url}/v1/jobs", json={"params": {"prompt": "p"}}).json()
    jsonschema.validate(job, _schema(document, "/v1/jobs/{job_id}", "200"))
    progress = httpx.get(f"{server.url}/v1/jobs/{job['id']}/progress").json()
    jsonschema.validate(progress, _schema(document, "/v1/jobs/{job_id}/progress", "200"))
    model = httpx.get(f"{server.url}/v1/models/{job['model_id']}").json()
    jsonschema.validate(model, _schema(document, "/v1/models/{model_id}", "200"))
    missing = httpx.get(f"{server.url}/v1/jobs/nope").json()
    jsonschema.validate(missing, _schema(document, "/v1/jobs/{job_id}", "404"))
    ttl = document["paths"]["/v1/jobs/{job_id}/artifacts"]["get"]["parameters"][1]
    assert ttl["name"] == "ttl"
    assert ttl["schema"]["type"] == "integer"


def _break_a_dependency(server: ServerProcess | StackServer) -> list[str]:
    """Takes the artifact store away; returns what its error text would reveal."""
    if isinstance(server, StackServer):
        from minio import Minio

        endpoint = server.env["DREAMFORGE_S3_ENDPOINT"].split("://", 1)[1]
        bucket = server.env["DREAMFORGE_S3_BUCKET"]
        s3 = Minio(
            endpoint,
            server.env["DREAMFORGE_S3_ACCESS_KEY"],
            server.env["DREAMFORGE_S3_SECRET_KEY"],
            secure=False,
            region="us-east-1",
        )
        s3.remove_bucket(bucket)
        return [bucket, endpoint]
    blobs = server.data_dir / "blobs"
    shutil.rmtree(blobs)
    return [str(blobs)]


def test_ready_names_a_failing_dependency_but_not_its_error(
    server: ServerProcess | StackServer,
) -> None:
    revealing = _break_a_dependency(server)
    response = httpx.get(f"{server.url}/ready")
    assert response.status_code == 503
    error = response.json()["error"]
    failing = {name for name, result in error["details"]["checks"].items() if result != "ok"}
    assert len(failing) == 1
    assert set(error["details"]["checks"].values()) == {"ok", "unavailable"}
    assert error["message"] == f"not ready: {failing.pop()}"
    for secret in revealing:  # hosts, bucket names and paths go to the log only
        assert secret not in response.text
        assert secret in server.log.read_text()
