"""Running `dreamforge bench …` as an operator does, and reading the report it writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_bench(
    name: str, *options: str, json_out: Path, timeout: float = 120
) -> tuple[dict[str, Any], str]:
    """Runs `dreamforge bench NAME OPTIONS --json-out JSON_OUT`; the report and what it printed.
    A failed run fails the test with the end of its standard error."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dreamforge_apps.cli",
            "bench",
            name,
            *options,
            "--json-out",
            str(json_out),
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(json_out.read_text()), done.stdout
