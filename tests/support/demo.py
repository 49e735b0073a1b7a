"""The tiny demo SDXL model, built on disk by the real CLI (no download)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def create_demo(data_dir: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "dreamforge_apps.cli", "model", "create-demo"],
        env={**os.environ, "DREAMFORGE_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"},
        check=True,
        capture_output=True,
        timeout=300,
    )
