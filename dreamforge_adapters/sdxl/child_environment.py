"""The environment of a runner process: what the libraries read once, at import, and what
each runner process sets for itself."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

# Set before diffusers or huggingface_hub is imported: they read these once, at import, and
# diffusers' single-file loader otherwise quietly asks the hub for configs.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DISABLE_TELEMETRY": "1",
}
# Inductor reads its cache switches at import too; the cache's folder it reads when it compiles.
COMPILE_CACHE_ENV = {"TORCHINDUCTOR_FX_GRAPH_CACHE": "1", "TORCHINDUCTOR_AUTOGRAD_CACHE": "1"}
IMPORT_TIME_ENV = {**OFFLINE_ENV, **COMPILE_CACHE_ENV}


def prepare_environment(options: Mapping[str, Any]) -> None:
    """The parent's extra variables first, then the import-time switches, which always win;
    then the compile cache's folder, which compiled kernels outlive the runner process in, so a
    restarted one skips compiling."""
    os.environ.update({str(k): str(v) for k, v in (options.get("env") or {}).items()})
    os.environ.update(IMPORT_TIME_ENV)
    cache_dir = options.get("compile_cache_dir") or os.environ.get("DREAMFORGE_COMPILE_CACHE_DIR")
    if cache_dir:
        os.makedirs(cache_dir, exist_ok=True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir)
