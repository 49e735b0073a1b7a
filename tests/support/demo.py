"""The tiny demo SDXL model, built on disk by the real CLI (no download).

Building the weights costs seconds of CPU (torch), so a test run builds them once: the first
`create_demo` of the run builds them in the run's cache directory (`DEMO_CACHE_ENV`, set by
tests/conftest.py for every worker of the run), and every call copies those files into its
data directory before `dreamforge model create-demo` registers them there (the command keeps
demo files that are already in place)."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from tests.support.launcher import run_checked

#: The run's directory for the built demo files; unset, each call builds its own.
DEMO_CACHE_ENV = "DREAMFORGE_TEST_DEMO_CACHE"


def create_demo(data_dir: Path, env: dict[str, str] | None = None) -> None:
    """`env`: a server's environment, to register the demo where that server looks (its
    database); by default this process's."""
    cache = os.environ.get(DEMO_CACHE_ENV)
    if cache:
        built = _built_once(Path(cache))
        shutil.copytree(built, data_dir / "models", dirs_exist_ok=True)
    _create_demo_command(data_dir, env)


def _built_once(cache: Path) -> Path:
    """The demo's model files, built by the first caller of the run (across processes)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = cache / "built"
        if not done.exists():
            _create_demo_command(cache / "data")
            done.touch()
    return cache / "data" / "models"


def _create_demo_command(data_dir: Path, env: dict[str, str] | None = None) -> None:
    run_checked(
        ["model", "create-demo"],
        {**(env or os.environ), "DREAMFORGE_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
