"""The API docs page (Swagger UI) served from this package's files, not from a CDN.

Litestar's own Swagger plugin loads Swagger UI from a public CDN and starts it with an inline
script: a server in a closed network shows a blank page, and a strict Content-Security-Policy
forbids the inline script anyway. This page loads the vendored Swagger UI (static/vendor,
pinned, licence beside it) and starts it from static/swagger-init.js, which reads the
schema's URL from the page.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request, Router
from litestar.openapi.plugins import SwaggerRenderPlugin

from dreamforge_adapters.http.playground import STATIC_PREFIX

SWAGGER_UI_VERSION = "5.36.0"
_VENDOR = f"{STATIC_PREFIX}/vendor/swagger-ui-{SWAGGER_UI_VERSION}"


class OfflineSwaggerPlugin(SwaggerRenderPlugin):
    def __init__(self, path: str | list[str] = "/swagger") -> None:
        super().__init__(
            js_url=f"{_VENDOR}/swagger-ui-bundle.js",
            css_url=f"{_VENDOR}/swagger-ui.css",
            path=path,
            favicon="",
            style="",
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = escape(str(openapi_schema["info"]["title"]))
        spec_url = escape(self.get_openapi_json_route(request))
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} API</title>
<link rel="icon" href="{STATIC_PREFIX}/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{self.css_url}">
<link rel="stylesheet" href="{STATIC_PREFIX}/swagger-page.css">
<script src="{self.js_url}" defer></script>
<script src="{STATIC_PREFIX}/swagger-init.js" defer></script>
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec_url}"></div>
</body>
</html>
""".encode()

    def receive_router(self, router: Router) -> None:
        """No OAuth2 redirect page: the API authenticates with bearer keys only."""
