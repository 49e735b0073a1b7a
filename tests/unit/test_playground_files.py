"""The playground page and the API docs page are served from the package, with a strict
Content-Security-Policy, and name nothing of another origin (ADR 0040, 0041)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from dreamforge_adapters.http.playground import (
    content_security_policy,
    origin_of,
    static_files,
)
from dreamforge_apps.settings import Settings
from tests.support.inprocess_api import InProcessApi, inprocess_api

#: A URL with a scheme and host, anywhere in the page's own files.
_ABSOLUTE_URL = re.compile(rb"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


@pytest.fixture(scope="module")
def api() -> Iterator[InProcessApi]:
    with inprocess_api() as found:
        yield found


def _csp(response: Any) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    return {d.split()[0]: d.split()[1:] for d in policy.split("; ")}


@pytest.mark.parametrize("path", ["/", "/schema", "/schema/swagger", "/static/js/main.js"])
def test_pages_and_files_carry_a_strict_policy(api: InProcessApi, path: str) -> None:
    response = api.client.get(path)
    assert response.status_code == 200
    policy = _csp(response)
    for directive in ("default-src", "script-src", "style-src", "connect-src"):
        assert policy[directive] == ["'self'"], directive
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_page_loads_modules_and_styles_from_this_server_only(api: InProcessApi) -> None:
    page = api.client.get("/").text
    assert response_type(api, "/") == "text/html"
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.DOTALL)
    assert scripts, "the page loads its script"
    for attributes, body in scripts:
        assert 'type="module"' in attributes
        assert body.strip() == "", "no inline script"
    assert "style=" not in page
    assert "<style" not in page
    for src in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert src.startswith("/"), src
        if src.startswith("/static/"):
            assert api.client.get(src).status_code == 200, src


def test_the_docs_page_loads_the_vendored_swagger_ui(api: InProcessApi) -> None:
    page = api.client.get("/schema/swagger").text
    assert "<script>" not in page
    assert "cdn" not in page.lower()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/swagger-init.js" in sources
    for src in sources:
        response = api.client.get(src)
        assert response.status_code == 200, src
    bundle = next(s for s in sources if s.endswith("swagger-ui-bundle.js"))
    assert response_type(api, bundle) == "text/javascript"
    assert "max-age" in api.client.get(bundle).headers["cache-control"]


def test_the_page_own_files_name_no_other_origin() -> None:
    own = {n: f for n, f in static_files().items() if not n.startswith("vendor/")}
    assert {"index.html", "app.css", "js/main.js", "swagger-init.js"} <= set(own)
    for name, found in own.items():
        if name.endswith((".html", ".js", ".css")):
            assert not _ABSOLUTE_URL.search(found.data), name


def test_an_unknown_static_name_is_a_404_in_the_envelope(api: InProcessApi) -> None:
    response = api.client.get("/static/../pyproject.toml")
    assert response.status_code == 404
    response = api.client.get("/static/js/nope.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_images_may_come_from_the_s3_endpoint_clients_reach() -> None:
    assert origin_of("https://s3.example.com:9000") == ("https://s3.example.com:9000",)
    assert origin_of(None) == ()
    assert origin_of("not a url") == ()
    policy = content_security_policy(("https://s3.example.com:9000",))
    assert "img-src 'self' data: blob: https://s3.example.com:9000" in policy
    with inprocess_api(
        Settings(runner="fake", s3_public_endpoint="http://files.example.com:8333")
    ) as api:
        assert "http://files.example.com:8333" in _csp(api.client.get("/"))["img-src"]


def response_type(api: InProcessApi, path: str) -> str:
    return str(api.client.get(path).headers["content-type"]).split(";")[0]


def test_static_files_share_one_metrics_label(api: InProcessApi) -> None:
    for i in range(5):
        api.client.get(f"/static/probe-{i}.js")
    api.client.get("/static/js/main.js")
    metrics = api.client.get("/metrics").text
    assert "probe-" not in metrics
    assert 'route="/static/{name}"' in metrics
