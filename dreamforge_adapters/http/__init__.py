"""The HTTP API (Litestar + msgspec): every endpoint of the HTTP contract (docs/api.md)."""

from dreamforge_adapters.http.app import build_app, build_litestar
from dreamforge_adapters.http.errors import COUNTED_CODES
from dreamforge_adapters.http.host_names import LoopbackHosts
from dreamforge_adapters.http.ops_app import OpsServices, build_ops_app
from dreamforge_adapters.http.playground import origin_of
from dreamforge_adapters.http.services import (
    ApiServices,
    HttpMetrics,
    HttpSettings,
    SignedBlobReader,
)

__all__ = [
    "COUNTED_CODES",
    "ApiServices",
    "HttpMetrics",
    "HttpSettings",
    "LoopbackHosts",
    "OpsServices",
    "SignedBlobReader",
    "build_app",
    "build_litestar",
    "build_ops_app",
    "origin_of",
]
