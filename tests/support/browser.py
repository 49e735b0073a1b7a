"""A real browser for the playground tests: Playwright driving the system Chromium (ADR 0042).

scripts/browser.sh installs Chromium (Debian's `chromium`); Playwright's own browser download
is never used. Without a browser the tests skip and say why, except under CI (CI=true), where a
missing browser fails them: CI must not pass by testing nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

#: Where the tests write their screenshots (git-ignored); DREAMFORGE_TEST_OUTPUT overrides it.
OUTPUT_DIR = Path(
    os.environ.get("DREAMFORGE_TEST_OUTPUT") or Path(__file__).resolve().parents[2] / "test-results"
)
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str | None:
    """The browser to drive: DREAMFORGE_CHROMIUM, else the first Chromium on PATH."""
    given = os.environ.get("DREAMFORGE_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    return next((found for name in _CANDIDATES if (found := shutil.which(name))), None)


def browser_missing(reason: str) -> None:
    """Skips the calling test (module) with `reason`, or fails it under CI."""
    message = f"{reason}; run scripts/browser.sh (as root it installs Debian's chromium)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true and no browser: {message}", pytrace=False)
    pytest.skip(message)


def screenshot_dir(module: str) -> Path:
    folder = OUTPUT_DIR / module
    folder.mkdir(parents=True, exist_ok=True)
    return folder
