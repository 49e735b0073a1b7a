"""Health, readiness, metrics, OpenAPI, models, auth and the bind guard."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import httpx
import jsonschema
import pytest

from tests.e2e.conftest import ServerProcess, StackServer
from tests.support.raw_http import raw_get


@pytest.fixture(scope="module")
def server(shared_server: ServerProcess) -> ServerProcess:
    """These tests read what no test of the module changes: one server per deployment serves
    them (a test that breaks its server, or needs other settings, starts its own)."""
    return shared_server


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


def test_both_deployments_serve_the_playground_under_its_policy(server: ServerProcess) -> None:
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200
    assert '<script type="module" src="/static/js/main.js">' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    images = next(d for d in policy.split("; ") if d.startswith("img-src "))
    if isinstance(server, StackServer):
        # the stack's artifact URLs are presigned for its S3 endpoint: the page may show them
        assert server.env["DREAMFORGE_S3_ENDPOINT"].rstrip("/") in images.split()
    else:
        assert images == "img-src 'self' data: blob:"
    assert httpx.get(f"{server.url}/static/js/main.js").status_code == 200
    assert httpx.get(f"{server.url}/schema/swagger").headers["content-security-policy"] == policy


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
    return _resolved(document, answer["content"]["application/json"]["schema"])


def _resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The named component a schema refers to, carrying the document's components so that
    the references inside it resolve for jsonschema."""
    name = schema.get("$ref", "").removeprefix("#/components/schemas/")
    named: dict[str, Any] = document["components"]["schemas"][name] if name else schema
    return {**named, "components": document["components"]}


def test_the_openapi_document_describes_the_answers(server: ServerProcess) -> None:
    document = httpx.get(f"{server.url}/schema/openapi.json").json()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            assert "400" not in operation["responses"], path  # validation errors are 422
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    schema = _resolved(document, answer["content"]["application/json"]["schema"])
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


def test_ready_names_a_failing_dependency_but_not_its_error(make_server: object) -> None:
    server: ServerProcess | StackServer = make_server()  # type: ignore[operator]
    server.start()  # its own: the test breaks its artifact store
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


# --- the Host header (DNS rebinding) -------------------------------------------------------

LOOPBACK_HOSTS = [
    "127.0.0.1",
    "127.0.0.1:{port}",
    "127.8.9.10:{port}",
    "localhost",
    "LocalHost:{port}",
    "app.localhost:{port}",
    "[::1]",
    "[::1]:{port}",
]
FOREIGN_HOSTS = [
    "rebind.example",
    "rebind.example:{port}",
    "localhost.rebind.example",
    "127.0.0.1.rebind.example:{port}",
    "10.0.0.7:{port}",
    "0.0.0.0:{port}",
    "[::2]:{port}",
    "[::1",
    "localhost:{port}:1",
    "localhost:http",
    "",
    None,  # no Host header at all
]


def _get(port: int, path: str, host: str | None, **headers: str) -> tuple[int, bytes]:
    """GET with exactly this Host header (None: none)."""
    sent = headers if host is None else {"Host": host.format(port=port), **headers}
    return raw_get(port, path, sent, skip_host=True)


def _served_ports(server: ServerProcess | StackServer) -> list[int]:
    """The API port, and in the stack each worker's operations port."""
    if isinstance(server, StackServer):
        return [server.port, *(int(url.rsplit(":", 1)[1]) for _, url in server.stack.workers)]
    return [server.port]


def test_without_keys_only_loopback_host_names_are_served(
    server: ServerProcess | StackServer,
) -> None:
    for port in _served_ports(server):
        for host in LOOPBACK_HOSTS:
            assert _get(port, "/health", host)[0] == 200, host
        for host in FOREIGN_HOSTS:
            for path in ("/health", "/ready", "/metrics", "/v1/models"):
                status, body = _get(port, path, host)
                assert status == 421, (host, path)
                error = json.loads(body)["error"]
                assert error["code"] == "misdirected_request"
    assert _get(server.port, "/v1/models", "localhost:{port}")[0] == 200


def test_with_keys_any_host_name_is_served(make_server: object) -> None:
    server: ServerProcess = make_server(DREAMFORGE_API_KEYS="k1")  # type: ignore[operator]
    server.start()
    assert _get(server.port, "/health", "rebind.example")[0] == 200
    assert _get(server.port, "/v1/models", "api.example.com", Authorization="Bearer k1")[0] == 200
    assert _get(server.port, "/v1/models", "api.example.com")[0] == 401


@pytest.mark.embedded_only
def test_a_public_bind_or_the_public_url_serves_other_host_names(make_server: object) -> None:
    public: ServerProcess = make_server("public")  # type: ignore[operator]
    public.start("--host", "0.0.0.0", "--allow-insecure-bind")
    assert _get(public.port, "/health", "192.168.1.20:{port}")[0] == 200
    proxied: ServerProcess = make_server(  # type: ignore[operator]
        "proxied", DREAMFORGE_PUBLIC_URL="https://images.example.com"
    )
    proxied.start()
    assert _get(proxied.port, "/health", "images.example.com")[0] == 200
    assert _get(proxied.port, "/health", "images.example.com:443")[0] == 200
    assert _get(proxied.port, "/health", "rebind.example")[0] == 421
