"""The HTTP API (Litestar + msgspec): every endpoint of API.md."""

from dreamforge_adapters.http.app import build_app, build_litestar
from dreamforge_adapters.http.services import (
    ApiServices,
    HttpMetrics,
    HttpSettings,
    SignedBlobReader,
)

__all__ = [
    "ApiServices",
    "HttpMetrics",
    "HttpSettings",
    "SignedBlobReader",
    "build_app",
    "build_litestar",
]
