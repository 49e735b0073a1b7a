"""The embedded server hands out images only through the URLs it signed: a signature covers
both the key and the expiry, so moving either gets 403, and nothing outside the blob
directory is reachable. (Expiry and a changed signature: test_job_lifecycle.py.)"""

from __future__ import annotations

import http.client
import json
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from dreamforge_apps.client import DreamForgeClient
from tests.e2e.conftest import ServerProcess

pytestmark = pytest.mark.embedded_only


@pytest.fixture(scope="module")
def server(shared_server: ServerProcess) -> ServerProcess:
    """Each test reads only the jobs it created, or paths that no test changes: one server
    serves the whole module."""
    return shared_server


def _parts(url: str) -> tuple[str, str, str, str]:
    """(origin, key, expires, signature) of an embedded artifact URL."""
    split = urlsplit(url)
    query = parse_qs(split.query)
    key = split.path.removeprefix("/blobs/")
    return f"{split.scheme}://{split.netloc}", key, query["expires"][0], query["signature"][0]


def _blob(origin: str, key: str, expires: str, signature: str) -> httpx.Response:
    return httpx.get(f"{origin}/blobs/{key}?expires={expires}&signature={signature}")


def test_a_signature_binds_its_key_and_its_expiry(client: DreamForgeClient) -> None:
    job = client.create_job({"prompt": "p", "count": 2, "width": 64, "height": 64, "steps": 2})
    list(client.stream(job["id"]))
    first, second = (_parts(a["url"]) for a in client.artifacts(job["id"], ttl=60))
    origin, key, expires, signature = first
    assert _blob(origin, key, expires, signature).status_code == 200

    moved = [
        (second[1], expires, signature),  # another image, this image's signature
        (key, str(int(expires) + 3600), signature),  # a later expiry
        (key, str(int(expires) - 1), signature),  # any other expiry
        (key, expires, signature.upper()),
        (key, expires, ""),
        (key, "", signature),
        (key, f"{expires}.0", signature),
    ]
    for attempt in moved:
        response = _blob(origin, *attempt)
        assert response.status_code == 403, attempt
        assert response.json()["error"]["code"] == "forbidden"
    assert httpx.get(f"{origin}/blobs/{key}").status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/blobs/../url-signing.key",
        "/blobs/%2e%2e/url-signing.key",
        "/blobs/" + quote("../url-signing.key", safe=""),
        "/blobs/../dreamforge.sqlite3",
        "/url-signing.key",
    ],
)
def test_files_outside_the_blob_directory_are_not_served(server: ServerProcess, path: str) -> None:
    for query in ("", "?expires=9999999999&signature=" + "0" * 64):
        # http.client sends the path as written; httpx would resolve the dot segments
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            conn.request("GET", path + query)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert response.status in (403, 404), (path, query)
        assert response.getheader("content-type") == "application/json", body


def _raw_get(server: ServerProcess, target: str) -> tuple[int, bytes]:
    """GET with the target sent byte for byte (percent-escapes stay as written)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", target)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


ODD_VALUES = [
    "9" * 5000,  # past the digits Python turns into an int
    "1" * 300,
    quote("²"),  # a digit to str.isdigit, not to int()
    quote("٣"),  # an Arabic-Indic three: int() reads it, the signer never wrote it
    quote("é" * 32),
    quote("\x00"),
    "%ff%fe",  # not UTF-8
]


@pytest.mark.parametrize("value", ODD_VALUES, ids=lambda v: v[:12])
def test_odd_expiries_and_signatures_get_403(
    server: ServerProcess, client: DreamForgeClient, value: str
) -> None:
    job = client.create_job({"prompt": "p", "width": 64, "height": 64, "steps": 2})
    list(client.stream(job["id"]))
    [artifact] = client.artifacts(job["id"], ttl=60)
    _, key, expires, signature = _parts(artifact["url"])
    for query in (f"expires={value}&signature={signature}", f"expires={expires}&signature={value}"):
        status, body = _raw_get(server, f"/blobs/{key}?{query}")
        assert status == 403, (query[:80], body[:200])
        assert json.loads(body)["error"]["code"] == "forbidden"
