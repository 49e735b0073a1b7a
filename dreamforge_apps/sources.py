"""The model sources of this installation, found through the `dreamforge.model_sources`
entry-point group, so a package adds a source without any change here or in the core (FR-095).

Each entry point names a class with `from_env(environ, *, progress=None)` that reads its own
endpoint and credentials (e.g. HF_ENDPOINT and HF_TOKEN, CIVITAI_TOKEN) from the environment.
A source is loaded when a reference names it, so a broken plug-in fails only its own
references, with a one-line reason, and never the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from dreamforge_apps.settings import Settings
from dreamforge_core.errors import DreamForgeError
from dreamforge_core.ports.job_queue import JobQueue
from dreamforge_core.ports.model_source import DownloadProgress, ModelSource
from dreamforge_core.use_cases.create_job import DownloadJobs

GROUP = "dreamforge.model_sources"


def load_sources(
    settings: Settings,
    *,
    progress: DownloadProgress | None = None,
    environ: Mapping[str, str] | None = None,
    configs_only: bool = False,
) -> Mapping[str, ModelSource]:
    """`configs_only`: sources that can (Hugging Face) list only configs and tokenizers; the
    SDXL base config needs no weights."""
    env: dict[str, Any] = dict(os.environ if environ is None else environ)
    # Settings may come from .env too; the sources read them under their public names.
    env.setdefault("DREAMFORGE_CIVITAI_BASE_URL", settings.civitai_base_url)
    return _InstalledSources(env, progress, configs_only)


class SourceNotLoadable(DreamForgeError):
    """Raised when an installed plug-in's source cannot be imported or built."""


class _InstalledSources(Mapping[str, ModelSource]):
    """The entry-point group as a mapping whose values are built on first use."""

    def __init__(
        self, env: dict[str, Any], progress: DownloadProgress | None, configs_only: bool
    ) -> None:
        self._env = env
        self._progress = progress
        self._configs_only = configs_only
        self._points = {point.name: point for point in entry_points(group=GROUP)}
        self._built: dict[str, ModelSource] = {}

    def __getitem__(self, name: str) -> ModelSource:
        if name not in self._built:
            source = self._build(self._points[name])
            if source is None:
                raise KeyError(name)
            self._built[name] = source
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        if not self._configs_only:
            return iter(self._points)
        return (name for name in self._points if self._offers_configs(name))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _offers_configs(self, name: str) -> bool:
        try:
            return name in self._built or self.get(name) is not None
        except SourceNotLoadable:
            return False

    def _build(self, point: EntryPoint) -> ModelSource | None:
        try:
            factory = point.load()
            options: dict[str, Any] = {"progress": self._progress}
            if self._configs_only:
                if not getattr(factory, "supports_configs_only", False):
                    return None
                options["configs_only"] = True
            source: ModelSource = factory.from_env(self._env, **options)
            return source
        except DreamForgeError:
            raise
        except Exception as e:
            raise SourceNotLoadable(
                f"model source {point.name!r} ({point.value}) could not be loaded: "
                f"{type(e).__name__}: {e}"
            ) from e


def source_names() -> frozenset[str]:
    """The reference prefixes of the installed sources, without building any source."""
    return frozenset(point.name for point in entry_points(group=GROUP))


def download_jobs(settings: Settings, io_queue: JobQueue) -> DownloadJobs | None:
    """What `CreateJob` needs to accept `model_download` jobs, when they are enabled."""
    if not settings.model_download_jobs:
        return None
    return DownloadJobs(io_queue, source_names())
