"""The playground page (`GET /`) and the static files it and the API docs page load.

The files ship inside this package (static/): no build step, nothing fetched from another
origin. They are read once, on first use, and served from memory under `/static/`; a name
that is not one of them is a 404, so the set of routes (and of metric labels) stays fixed.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from urllib.parse import urlsplit

from litestar import Response, Router, get
from litestar.datastructures import ResponseHeader

from dreamforge_core.errors import NotFound

STATIC_PREFIX = "/static"
#: Vendored files are named by their version, so a browser may keep them; the page's own
#: files change with the server and are checked on every load.
_VENDOR_CACHE = "public, max-age=604800, immutable"
_OWN_CACHE = "no-cache"
#: Litestar adds `; charset=utf-8` to text types itself.
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".md": "text/plain"}


@dataclass(frozen=True, slots=True)
class StaticFile:
    data: bytes
    content_type: str
    cache_control: str


def _walk(folder: Traversable, prefix: str) -> dict[str, StaticFile]:
    found: dict[str, StaticFile] = {}
    for entry in folder.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.update(_walk(entry, f"{name}/"))
            continue
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        kind = _TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0] or "text/plain"
        cache_control = _VENDOR_CACHE if name.startswith("vendor/") else _OWN_CACHE
        found[name] = StaticFile(entry.read_bytes(), kind, cache_control)
    return found


@cache
def static_files() -> dict[str, StaticFile]:
    """Every file under static/, by its path relative to that folder."""
    return _walk(resources.files(__package__).joinpath("static"), "")


def content_security_policy(image_origins: tuple[str, ...] = ()) -> str:
    """The page's policy: scripts, styles and requests from this origin only; images also as
    `data:` (live previews) and from `image_origins` (where presigned artifact URLs point)."""
    images = " ".join(("'self'", "data:", "blob:", *image_origins))
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def origin_of(url: str | None) -> tuple[str, ...]:
    """`scheme://host[:port]` of an absolute URL, as a CSP source; none for a missing one."""
    if not url:
        return ()
    parts = urlsplit(url)
    return (f"{parts.scheme}://{parts.netloc}",) if parts.scheme and parts.netloc else ()


def page_headers(image_origins: tuple[str, ...] = ()) -> list[ResponseHeader]:
    return [
        ResponseHeader(
            name="Content-Security-Policy", value=content_security_policy(image_origins)
        ),
        ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
        ResponseHeader(name="Referrer-Policy", value="no-referrer"),
    ]


def _serve(name: str) -> Response[bytes]:
    found = static_files().get(name)
    if found is None:
        raise NotFound(f"no static file {name!r}")
    return Response(
        found.data,
        media_type=found.content_type,
        headers={"Cache-Control": found.cache_control},
    )


@get("/", include_in_schema=False, sync_to_thread=False)
def playground_page() -> Response[bytes]:
    return _serve("index.html")


@get(f"{STATIC_PREFIX}/{{name:path}}", include_in_schema=False, sync_to_thread=False)
def static_file(name: str) -> Response[bytes]:
    return _serve(name.lstrip("/"))


def playground_router(image_origins: tuple[str, ...] = ()) -> Router:
    """The page and its files, each answered with the page's security headers."""
    return Router(
        path="/",
        route_handlers=[playground_page, static_file],
        response_headers=page_headers(image_origins),
    )
