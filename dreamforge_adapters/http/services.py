"""What the HTTP layer needs, handed over by the composition root."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from dreamforge_adapters.http.host_names import LoopbackHosts
from dreamforge_core.ports.event_bus import EventBus
from dreamforge_core.ports.tracer import NO_TRACER, Tracer
from dreamforge_core.use_cases.cancel_job import CancelJob
from dreamforge_core.use_cases.create_job import CreateJob
from dreamforge_core.use_cases.queries import JobQueries, ModelQueries


class HttpMetrics(Protocol):
    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None: ...

    def error(self, code: str) -> None: ...

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        ...


class SignedBlobReader(Protocol):
    """A blob store that serves its signed URLs through this server (the embedded one)."""

    def read_signed(self, key: str, expires: str, signature: str) -> tuple[bytes, str]:
        """Returns (data, content type); raises Forbidden or NotFound."""
        ...


@dataclass(frozen=True, slots=True)
class ApiServices:
    create_job: CreateJob
    cancel_job: CancelJob
    jobs: JobQueries
    models: ModelQueries
    bus: EventBus
    metrics: HttpMetrics
    # name → check that raises when the dependency is unreachable
    ready_checks: Mapping[str, Callable[[], None]] = field(default_factory=dict)
    blob_reader: SignedBlobReader | None = None
    tracer: Tracer = NO_TRACER  # a span per request (NFR-022)


#: A job request carrying images (image-to-image, inpainting) may be this large; every other
#: request keeps `HttpSettings.max_body_bytes`.
MAX_IMAGE_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class HttpSettings:
    api_keys: frozenset[str] = frozenset()
    admin_api_keys: frozenset[str] = frozenset()  # API keys that may also run admin actions
    max_body_bytes: int = 1024 * 1024
    sse_keepalive_s: float = 15.0
    public_url: str | None = None  # absolute root for URLs this server hands out
    offload_blocking: bool = False  # run use cases in threads (network stores)
    # only these Host names are answered (a loopback server without keys); None: any
    hosts: LoopbackHosts | None = None
    # origins the playground may show images from besides its own (presigned S3 URLs)
    image_origins: tuple[str, ...] = ()
    title: str = "Dream Forge"
    version: str = "0.1.0"
