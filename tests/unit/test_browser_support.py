"""Without a browser the browser tests skip and say why, but under CI they fail (ADR 0042)."""

from __future__ import annotations

import pytest

from tests.support import browser


def test_a_missing_browser_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no Chromium.*scripts/browser\.sh"):
        browser.browser_missing("no Chromium")


def test_a_missing_browser_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and no browser"):
        browser.browser_missing("no Chromium")


def test_no_browser_is_found_where_none_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DREAMFORGE_CHROMIUM", "/nowhere/chromium")
    assert browser.chromium_path() is None
    monkeypatch.delenv("DREAMFORGE_CHROMIUM")
    monkeypatch.setenv("PATH", "/nowhere")
    assert browser.chromium_path() is None
