"""docs/configuration.md is generated from the settings and must be kept up to date."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from dreamforge_apps import config_docs
from dreamforge_apps.cli import main
from dreamforge_apps.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _client_variables() -> set[str]:
    """Variables the `dreamforge generate` client reads: options with an envvar."""
    command = main.commands["generate"]
    return {str(p.envvar) for p in command.params if isinstance(p, click.Option) and p.envvar}


def test_the_page_is_what_the_settings_render() -> None:
    text = DOC.read_text()
    assert config_docs.render(text) == text, "run `dreamforge config docs`"


def test_every_setting_is_documented_with_its_true_default() -> None:
    rows = {
        cells[0].strip("` "): cells
        for line in DOC.read_text().splitlines()
        if line.startswith("| `DREAMFORGE_")
        for cells in [[c.strip() for c in line.strip("|").split(" | ")]]
    }
    for name, info in Settings.model_fields.items():
        env = config_docs.env_name(name)
        assert env in rows, f"{env} is not documented"
        kind, default = rows[env][1], rows[env][3]
        assert kind == ("public" if name in config_docs.PUBLIC else "addition")
        if info.default is not None:
            assert default.startswith(f"`{config_docs._value(info.default)}`"), env


def test_no_documented_variable_is_missing_from_the_code() -> None:
    known = {config_docs.env_name(n) for n in Settings.model_fields} | _client_variables()
    mentioned = set(re.findall(r"DREAMFORGE_[A-Z0-9_]*[A-Z0-9]", DOC.read_text()))
    prefixes = {m for m in mentioned if any(k.startswith(m + "_") for k in known)}
    assert mentioned - known - prefixes == set()


def test_the_public_names_are_settings() -> None:
    assert config_docs.PUBLIC - set(Settings.model_fields) == set()


def test_a_changed_setting_makes_the_page_out_of_date(monkeypatch: pytest.MonkeyPatch) -> None:
    field = Settings.model_fields["max_attempts"]
    monkeypatch.setattr(field, "default", 5)
    text = DOC.read_text()
    assert config_docs.render(text) != text


def test_a_setting_without_a_section_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    rows, extra = config_docs.SECTIONS["logging"]
    monkeypatch.setitem(config_docs.SECTIONS, "logging", (rows[:1], extra))
    with pytest.raises(ValueError, match="log_format"):
        config_docs.render(DOC.read_text())


def test_check_mode_reports_a_stale_page(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text(DOC.read_text().replace("`3600`", "`60`", 1))
    assert config_docs.main([str(stale), "--check"]) == 1
    assert config_docs.main([str(stale)]) == 0
    assert stale.read_text() == DOC.read_text()
