"""The project speaks of itself only: no tracked file points at documents or paths outside
the repository (its contract pages are docs/api.md and docs/configuration.md)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(
    r"\b(?:API|CONFIG|DESIGN|REQUIREMENTS|STYLE|FACTS)\.md\b|\.\./shared\b|/work/(?:main|shared)\b"
)


def test_no_tracked_file_refers_to_documents_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for name in tracked:
        path = ROOT / name
        if name == "tests/unit/test_self_contained.py" or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files
        found += [f"{name}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
    assert not found, found
