"""Where models come from (Hugging Face, CivitAI, …): the downloader's source port (FR-091).

A source turns a reference into a `ResolvedModel` (pinned version, files with the sizes and
sha256 it publishes, provenance), fetches those files into a folder, verifies them and
describes the result for the registry. Sources plug in through the `dreamforge.model_sources`
entry-point group; the core downloader (`InstallModel`) never names one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from dreamforge_core.domain.model import ModelDescriptor
from dreamforge_core.domain.model_ref import ModelRef

#: (file name, bytes done, total bytes or None); called from download threads.
DownloadProgress = Callable[[str, int, int | None], None]


@dataclass(frozen=True, slots=True)
class SourceFile:
    name: str  # path inside the model folder, e.g. "unet/config.json"
    url: str
    size: int | None = None  # as the source states it
    sha256: str | None = None  # lower-case hex, as the source publishes it
    git_oid: str | None = None  # Hugging Face git files: blob sha1, checked after the fetch
    # A size the source states only roughly (CivitAI's sizeKB): counted by the disk check and
    # an upper bound while downloading, never checked as exact.
    approx_size: int | None = None


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    ref: ModelRef
    name: str  # safe for a folder name
    version: str  # pinned: a commit (hf), a version id (civitai)
    kind: str  # sdxl-diffusers, sdxl-checkpoint, sdxl-config
    files: tuple[SourceFile, ...]
    source_uri: str  # the pinned reference, e.g. hf:owner/name@<commit>
    provenance: dict[str, Any] = field(default_factory=dict)  # source ids; never a secret
    checkpoint_file: str | None = None  # the weights file whose sha256 is the model's hash


@dataclass(frozen=True, slots=True)
class FetchedFile:
    name: str
    path: Path
    size: int
    sha256: str
    skipped: bool  # verified before: nothing fetched
    resumed_from: int  # bytes of a partial file kept from an earlier run
    fetched_bytes: int  # bytes received over the network


class ModelSource(Protocol):
    """One place models come from."""

    scheme: str  # the reference prefix it serves: "hf", "civitai"

    def resolve(self, ref: ModelRef) -> ResolvedModel:
        """Pins the reference and lists the files with what the source states about them;
        raises NotFound, Unauthorized, InvalidInput (refused file types) or Unavailable."""
        ...

    def model_id(self, model: ResolvedModel) -> str:
        """The registry id the resolved model will be installed under, known before any byte
        is fetched. Optional for plug-ins: without it the replacement of an installed model
        is refused after the download, just before the registry is written."""
        ...

    def fetch(
        self, model: ResolvedModel, folder: Path, progress: DownloadProgress | None = None
    ) -> list[FetchedFile]:
        """Downloads what is missing (resuming partial files) into `folder`."""
        ...

    def verify(self, model: ResolvedModel, files: Sequence[FetchedFile]) -> dict[str, str]:
        """sha256 per file name; raises when a file differs from what the source published."""
        ...

    def to_model_descriptor(
        self,
        model: ResolvedModel,
        folder: Path,
        checksums: dict[str, str],
        now: datetime,
    ) -> ModelDescriptor:
        """The registry entry of the installed model (absolute local path, installed)."""
        ...
