"""The model sources of this installation, found through the `dreamforge.model_sources`
entry-point group, so a package adds a source without any change here or in the core (FR-095).

Each entry point names a class with `from_env(environ, *, progress=None)` that reads its own
endpoint and credentials (e.g. HF_ENDPOINT and HF_TOKEN, CIVITAI_TOKEN) from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from dreamforge_apps.settings import Settings
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
) -> dict[str, ModelSource]:
    """`configs_only`: sources that can (Hugging Face) list only configs and tokenizers; the
    SDXL base config needs no weights."""
    env: dict[str, Any] = dict(os.environ if environ is None else environ)
    # Settings may come from .env too; the sources read them under their public names.
    env.setdefault("DREAMFORGE_CIVITAI_BASE_URL", settings.civitai_base_url)
    sources: dict[str, ModelSource] = {}
    for point in entry_points(group=GROUP):
        factory = point.load()
        if configs_only:
            if getattr(factory, "supports_configs_only", False):
                sources[point.name] = factory.from_env(env, progress=progress, configs_only=True)
            continue
        sources[point.name] = factory.from_env(env, progress=progress)
    return sources


def source_names() -> frozenset[str]:
    """The reference prefixes of the installed sources, without building any source."""
    return frozenset(point.name for point in entry_points(group=GROUP))


def download_jobs(settings: Settings, io_queue: JobQueue) -> DownloadJobs | None:
    """What `CreateJob` needs to accept `model_download` jobs, when they are enabled."""
    if not settings.model_download_jobs:
        return None
    return DownloadJobs(io_queue, source_names())
