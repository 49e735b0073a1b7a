"""With API keys configured every /v1 route needs one; operations routes and signed artifact
URLs do not. Unknown paths cannot grow the metrics."""

from __future__ import annotations

import functools

import httpx
import pytest

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess

KEYS = "k1,k2"
SHARED_SERVER_ENV = {"DREAMFORGE_API_KEYS": KEYS}
BAD_CREDENTIALS = [
    None,
    "Bearer wrong",
    "Bearer k1x",  # a key with something appended
    "Bearer k1,k2",  # the whole setting is not a key
    "Bearer",
    "Basic azE6",  # k1 as a Basic user name
    "k1",  # no scheme
]
# Spellings that reach a /v1 route through the router's path normalisation.
ALIASED_PATHS = ["//v1/models", "/v1//models", "/v1/models/", "///v1/models//"]


@pytest.fixture(scope="module")
def keyed_server(shared_server: ServerProcess) -> ServerProcess:
    """A server with API keys, shared by the module: each test reads only the jobs it created,
    under an Idempotency-Key of its own."""
    return shared_server


def _finished_job(server: ServerProcess) -> tuple[dict[str, object], dict[str, object]]:
    client = DreamForgeClient(server.url, api_key="k2")
    try:
        job = client.create_job({"prompt": "p", "width": 64, "height": 64, "steps": 2})
        list(client.stream(str(job["id"])))
        [artifact] = client.artifacts(str(job["id"]))
        return job, artifact
    finally:
        client.close()


def _v1_routes(job_id: str, model_id: str) -> list[tuple[str, str]]:
    jobs = f"/v1/jobs/{job_id}"
    return [
        ("POST", "/v1/jobs"),
        ("GET", jobs),
        ("GET", f"{jobs}/artifacts"),
        ("GET", f"{jobs}/logs"),
        ("GET", f"{jobs}/progress"),
        ("GET", f"{jobs}/progress/stream"),
        ("GET", "/v1/models"),
        ("GET", f"/v1/models/{model_id}"),
        ("GET", "/v1/no-such-route"),  # 401, not a 404 that tells what exists
    ]


@functools.cache
def _http() -> httpx.Client:
    """One client for the module's hundreds of requests: a client's TLS context costs more CPU
    than a request. Its cookies are cleared before each request; nothing here depends on a
    request having a connection of its own."""
    return httpx.Client(timeout=30)


def _call(
    server: ServerProcess,
    method: str,
    path: str,
    authorization: str | None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    headers = dict(headers or {})
    if authorization is not None:
        headers["Authorization"] = authorization
    body = {"params": {"prompt": "p", "width": 64, "height": 64, "steps": 2}}
    _http().cookies.clear()
    return _http().request(
        method,
        f"{server.url}{path}",
        headers=headers,
        json=body if method == "POST" else None,
    )


def _assert_unauthorized(response: httpx.Response, what: object) -> None:
    assert response.status_code == 401, what
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "unauthorized", what
    assert error["correlation_id"] == response.headers["x-correlation-id"]
    assert error["job_id"] is None
    assert set(error) == {"code", "message", "details", "correlation_id", "job_id"}


def test_every_v1_route_needs_a_valid_key(keyed_server: ServerProcess) -> None:
    server = keyed_server
    job, _ = _finished_job(server)
    routes = _v1_routes(str(job["id"]), str(job["model_id"]))

    for authorization in BAD_CREDENTIALS:
        for method, path in routes:
            response = _call(server, method, path, authorization)
            _assert_unauthorized(response, (authorization, method, path))
    for path in ALIASED_PATHS:
        _assert_unauthorized(_call(server, "GET", path, None), path)

    for authorization in ("Bearer k1", "Bearer k2", "bearer k1"):  # the scheme is case-blind
        for method, path in routes[:-1]:
            response = _call(server, method, path, authorization)
            assert response.status_code in (200, 202), (authorization, path, response.text)


def test_a_refused_request_stores_nothing(keyed_server: ServerProcess) -> None:
    server = keyed_server
    refused = _call(server, "POST", "/v1/jobs", None, headers={"Idempotency-Key": "auth-1"})
    assert refused.status_code == 401
    created = _call(server, "POST", "/v1/jobs", "Bearer k1", headers={"Idempotency-Key": "auth-1"})
    assert created.status_code == 202
    assert "idempotent-replayed" not in created.headers  # the refused POST left no job behind


def test_operations_and_signed_urls_stay_open(keyed_server: ServerProcess) -> None:
    server = keyed_server
    _, artifact = _finished_job(server)
    open_paths = ("/health", "/ready", "/metrics", "/schema/openapi.json", "/schema/swagger")
    # the playground is open too: the /v1 calls it makes ask for the key
    for path in (*open_paths, "/", "/static/js/main.js"):
        assert _http().get(f"{server.url}{path}").status_code == 200, path
    # the signed URL is the credential for an image: no API key needed, none accepted instead
    assert _http().get(str(artifact["url"])).status_code == 200
    unsigned = str(artifact["url"]).split("?")[0]
    assert _http().get(unsigned, headers={"Authorization": "Bearer k1"}).status_code == 403


def test_unknown_paths_share_one_metrics_label(server: ServerProcess) -> None:
    for i in range(20):
        _http().get(f"{server.url}/probe-{i}")
        _http().get(f"{server.url}/v1/probe-{i}")
    metrics = _http().get(f"{server.url}/metrics").text
    assert "probe-" not in metrics
    assert 'route="unmatched"' in metrics
