"""What every model source shares: fetching, verifying, describing.

A concrete source only resolves references (`resolve`); `FetchingSource` downloads the
resolved files with `fetch.Fetcher`, checks them against what the source published and turns
the result into a registry entry. Tokens live on the source and travel only as request headers:
never in a `ResolvedModel`, its provenance or the descriptor (NFR-104).

Safety (NFR-103): the file rules are in `file_rules.py`; sources apply them when they resolve a
model, before anything is downloaded. Every request, API call or file, and each redirect hop is
checked by the source's `AddressGuard` (`address_guard.py`) before it is sent.

It is one module because every source inherits fetching, verifying and describing together,
and the three run in sequence over one resolved model.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from dreamforge_adapters.model_sources.address_guard import (
    AddressGuard,
    Resolver,
    guarded_get,
    system_resolver,
)
from dreamforge_adapters.model_sources.fetch import Fetcher
from dreamforge_adapters.model_sources.file_rules import (
    KIND_CHECKPOINT,
    KIND_LORA,
    invalid_ref,
)
from dreamforge_adapters.model_sources.http_details import (
    RETRY_STATUSES,
    HttpClientUser,
    describe_error,
    display_url,
    retry_after_s,
)
from dreamforge_adapters.model_sources.remote_files import (
    AccessDenied,
    FetchError,
    IntegrityError,
    RefusedAddress,
    RemoteFile,
    RemoteNotFound,
    UnsafePath,
    safe_target,
)
from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.model_ref import ModelRef
from dreamforge_core.domain.params import ModelLimits
from dreamforge_core.errors import (
    DreamForgeError,
    Forbidden,
    NotFound,
    Unauthorized,
    Unavailable,
)
from dreamforge_core.ports.model_source import (
    DownloadProgress,
    FetchedFile,
    ResolvedModel,
    SourceFile,
)

_MAX_BACKOFF_S = 30.0
# How far a file may outgrow the rough size its source stated (CivitAI's sizeKB) before the
# download is stopped: max(1 MiB, 1 %).
_ROUGH_SIZE_SLACK_BYTES = 1 << 20
_ROUGH_SIZE_SLACK_SHARE = 0.01


def _upper_bound(approx_size: int | None) -> int | None:
    if approx_size is None:
        return None
    return approx_size + max(_ROUGH_SIZE_SLACK_BYTES, int(approx_size * _ROUGH_SIZE_SLACK_SHARE))


class IntegrityFailure(DreamForgeError):
    """Raised when a file differs from what its source published (size, sha256, git oid).

    The one class to catch for "hash mismatch", whether found while downloading or after.
    """

    code = "integrity"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def git_blob_sha1(path: Path, size: int) -> str:
    """The id git gives a file's content: sha1 over `blob <size>\\0` and the bytes."""
    hasher = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            hasher.update(block)
    return hasher.hexdigest()


# --- the shared source -------------------------------------------------------------------------


class FetchingSource(HttpClientUser):
    """Fetch, verify and describe for a source whose subclass implements `resolve`.

    `base_url` is the source's own origin: the token goes to URLs there and nowhere else.
    Options: `concurrency` files at once (default 4), `attempts` per request and file,
    `timeout_s` of silence per read, `progress` (overridden by `fetch`'s own argument),
    `sleep` (the backoff wait, replaceable in tests) and `resolver` (host names to addresses,
    for the address guard; replaceable in tests). `client` is used as given and not closed;
    without one the source makes its own, closed by `close()`.
    """

    scheme: ClassVar[str] = ""
    token_env: ClassVar[str] = ""  # the setting that holds the token, for messages

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        client: httpx.Client | None = None,
        concurrency: int = 4,
        attempts: int = 5,
        timeout_s: float = 30.0,
        progress: DownloadProgress | None = None,
        sleep: Callable[[float], None] = time.sleep,
        resolver: Resolver = system_resolver,
    ) -> None:
        if concurrency < 1 or attempts < 1:
            raise ValueError("concurrency and attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._origin = _origin(self.base_url)
        self._guard = AddressGuard(self.base_url, resolver)
        self._token = token or None
        super().__init__(client)
        self._concurrency = concurrency
        self._attempts = attempts
        self._timeout_s = timeout_s
        self._progress = progress
        self._sleep = sleep

    def __repr__(self) -> str:  # the token stays out of logs
        return f"{type(self).__name__}(token={'set' if self._token else 'unset'})"

    def auth_headers(self, url: str) -> dict[str, str]:
        """The token, for URLs on the source's own origin only: a listing or file URL that
        points elsewhere must not receive it."""
        if self._token and _origin(url) == self._origin:
            return {"Authorization": f"Bearer {self._token}"}
        return {}

    def token_hint(self) -> str:
        if self._token:
            return f"set {self.token_env} to a token with access"
        return f"set {self.token_env}"

    def resolve(self, ref: ModelRef) -> ResolvedModel:
        raise NotImplementedError

    def model_id(self, model: ResolvedModel) -> str:
        """The registry id; sources refine it (see their docstrings)."""
        return model.name

    # --- API requests ------------------------------------------------------------------------

    def get(self, url: str, what: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        """A 2xx answer to GET `url`; transient failures are retried, the rest raised as
        core errors that name `what` (e.g. "repository org/name")."""
        cause = ""
        for attempt in range(1, self._attempts + 1):
            retry_after: float | None = None
            try:
                with guarded_get(
                    self._client,
                    url,
                    guard=self._guard,
                    headers=self.auth_headers(url),
                    params=params,
                    timeout=self._timeout_s,
                ) as response:
                    response.read()
            except RefusedAddress as exc:
                raise Forbidden(f"{self.scheme}: {exc.message}", details=exc.details) from exc
            except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.TooManyRedirects) as exc:
                raise Unavailable(f"{self.scheme}: bad address {display_url(url)}: {exc}") from exc
            except httpx.TransportError as exc:
                cause = describe_error(exc)
            else:
                if response.is_success:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise self.status_error(response, what)
                cause = f"HTTP {response.status_code}"
                retry_after = retry_after_s(response.headers.get("Retry-After"))
            if attempt < self._attempts:
                delay = min(_MAX_BACKOFF_S, 0.5 * 2 ** (attempt - 1))
                self._sleep(min(retry_after, _MAX_BACKOFF_S) if retry_after is not None else delay)
        raise Unavailable(
            f"{self.scheme}: could not get {what} from {display_url(url)} after "
            f"{self._attempts} attempts: {cause}"
        )

    def get_json(self, url: str, what: str, params: Mapping[str, str] | None = None) -> Any:
        response = self.get(url, what, params)
        try:
            return response.json()
        except ValueError:
            raise Unavailable(
                f"{self.scheme}: {display_url(url)} did not answer with JSON for {what}"
            ) from None

    def status_error(self, response: httpx.Response, what: str) -> DreamForgeError:
        """The core error for a non-2xx, non-transient answer about `what`."""
        status = response.status_code
        if status in (401, 403):
            return Unauthorized(f"{self.scheme} refused {what}: {status} — {self.token_hint()}")
        if status == 404:
            return NotFound(f"{self.scheme}: {what} not found")
        return Unavailable(f"{self.scheme}: HTTP {status} for {what}")

    # --- fetch, verify, describe -------------------------------------------------------------

    def fetch(
        self, model: ResolvedModel, folder: Path, progress: DownloadProgress | None = None
    ) -> list[FetchedFile]:
        """Downloads what is missing into `folder`; a file whose bytes differ from the published
        sha256 raises IntegrityFailure and leaves nothing at its target path."""
        remote = [
            RemoteFile(
                f.url,
                f.name,
                f.size,
                f.sha256,
                max_size=_upper_bound(f.approx_size) if f.size is None else None,
                headers=self.auth_headers(f.url),
            )
            for f in model.files
        ]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with Fetcher(
                client=self._client,
                attempts=self._attempts,
                timeout_s=self._timeout_s,
                progress=progress or self._progress,
                sleep=self._sleep,
                guard=self._guard,
            ) as fetcher:
                done = fetcher.fetch_all(remote, folder, concurrency=self._concurrency)
        except IntegrityError as exc:
            raise self._integrity_failure(exc) from exc
        except AccessDenied as exc:
            file, status = exc.details.get("file"), exc.details.get("status")
            raise Unauthorized(
                f"{self.scheme} refused {file}: {status} — {self.token_hint()}"
            ) from exc
        except RemoteNotFound as exc:
            raise NotFound(f"{self.scheme}: {exc.message}") from exc
        except UnsafePath as exc:
            raise invalid_ref(model.ref, exc.message) from exc
        except RefusedAddress as exc:
            raise Forbidden(f"{self.scheme}: {exc.message}", details=exc.details) from exc
        except FetchError as exc:
            raise Unavailable(f"{self.scheme}: {exc.message}", details=exc.details) from exc
        except OSError as exc:
            raise Unavailable(f"cannot create {folder}: {exc.strerror or exc}") from exc
        return done

    def _integrity_failure(self, exc: IntegrityError) -> IntegrityFailure:
        d = exc.details
        if "expected_sha256" in d:
            message = (
                f"{self.scheme}: integrity check failed for {d.get('file')}: sha256 expected "
                f"{d['expected_sha256']} (as published), got {d['actual_sha256']}"
            )
        else:
            message = f"{self.scheme}: integrity check failed: {exc.message}"
        return IntegrityFailure(message, details=dict(d))

    def verify(self, model: ResolvedModel, files: Sequence[FetchedFile]) -> dict[str, str]:
        """sha256 per file of `model`, from what `fetch` measured (weights are not read again);
        git-tracked files (small configs) are read once to check their git blob id."""
        fetched = {f.name: f for f in files}
        checksums: dict[str, str] = {}
        for source in model.files:
            got = fetched.get(source.name)
            if got is None:
                raise IntegrityFailure(f"{self.scheme}: {source.name} was not fetched")
            self._check(source, got)
            checksums[source.name] = got.sha256
        return checksums

    def _check(self, source: SourceFile, got: FetchedFile) -> None:
        name, details = source.name, {"file": source.name}
        try:
            on_disk = got.path.stat().st_size
        except OSError:
            raise IntegrityFailure(
                f"{self.scheme}: integrity check failed: {name} is missing", details=details
            ) from None
        if on_disk != got.size or (source.size is not None and got.size != source.size):
            raise IntegrityFailure(
                f"{self.scheme}: integrity check failed for {name}: {on_disk} bytes, "
                f"expected {got.size if source.size is None else source.size}",
                details=details,
            )
        if source.sha256 is not None and got.sha256 != source.sha256:
            raise IntegrityFailure(
                f"{self.scheme}: integrity check failed for {name}: sha256 expected "
                f"{source.sha256} (as published), got {got.sha256}",
                details={**details, "expected_sha256": source.sha256, "actual_sha256": got.sha256},
            )
        if source.git_oid is not None:
            oid = git_blob_sha1(got.path, on_disk)
            if oid != source.git_oid:
                raise IntegrityFailure(
                    f"{self.scheme}: integrity check failed for {name}: git blob id expected "
                    f"{source.git_oid}, got {oid}",
                    details={**details, "expected_git_oid": source.git_oid, "actual_git_oid": oid},
                )

    def to_model_descriptor(
        self,
        model: ResolvedModel,
        folder: Path,
        checksums: dict[str, str],
        now: datetime,
    ) -> ModelDescriptor:
        """The installed model: `local_path` is the folder, or for a single-file checkpoint
        the weights file inside it (what the runner loads); SDXL default limits."""
        root = folder.resolve()
        files: dict[str, dict[str, Any]] = {}
        for source in model.files:
            sha = checksums.get(source.name)
            if sha is None:
                raise IntegrityFailure(f"{self.scheme}: {source.name} was not verified")
            try:
                size = safe_target(root, source.name).stat().st_size
            except OSError:
                raise IntegrityFailure(f"{self.scheme}: {source.name} is missing") from None
            files[source.name] = {"sha256": sha, "size": size}
        checkpoint = model.checkpoint_file
        local = root
        if model.kind in (KIND_CHECKPOINT, KIND_LORA) and checkpoint is not None:
            local = safe_target(root, checkpoint)
        return ModelDescriptor(
            id=self.model_id(model),
            name=model.name,
            kind=model.kind,
            version=model.version,
            checkpoint_hash=checksums.get(checkpoint) if checkpoint else None,
            source_uri=model.source_uri,
            local_path=str(local),
            installed=True,
            enabled=True,
            limits=ModelLimits(),
            capabilities=["generate"],
            provenance={**model.provenance, "files": files},
            created_at=now,
            updated_at=now,
        )
