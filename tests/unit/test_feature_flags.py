"""NFR-052: every feature flag has an owner, an expiry within two releases and a removal task,
in one registry; an expired flag fails this suite until its removal task is done."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from dreamforge_apps import __version__
from dreamforge_apps.cli import main
from dreamforge_apps.feature_flags import (
    FLAGS,
    PERMANENT_SWITCHES,
    FeatureFlag,
    is_switch,
    release,
)
from dreamforge_apps.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_program_reports_the_projects_version() -> None:
    assert __version__ == PROJECT_VERSION


@pytest.mark.parametrize("flag", FLAGS, ids=lambda flag: flag.name)
def test_no_flag_outlives_its_expiry(flag: FeatureFlag) -> None:
    assert not flag.expired(PROJECT_VERSION), (
        f"feature flag {flag.name} ({flag.variable}) expired in {flag.expires_in_release} "
        f"and the project is at {PROJECT_VERSION}: {flag.owner} must do its removal task: "
        f"{flag.removal_task}"
    )


def test_every_on_off_setting_is_a_registered_flag_or_a_permanent_switch() -> None:
    switches = {name for name in Settings.model_fields if is_switch(name)}
    flags = {flag.setting for flag in FLAGS}
    assert flags.isdisjoint(PERMANENT_SWITCHES)
    assert switches == flags | set(PERMANENT_SWITCHES)
    assert len({flag.name for flag in FLAGS}) == len(FLAGS)


def test_the_two_flags_the_operators_know_are_registered() -> None:
    assert {flag.variable for flag in FLAGS} >= {
        "DREAMFORGE_MODEL_DOWNLOAD_JOBS",
        "DREAMFORGE_TRACING",
    }


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"owner": " "}, "has no owner"),
        ({"removal_task": ""}, "has no removal task"),
        ({"expires_in_release": "0.4"}, "within 2 releases"),
        ({"expires_in_release": "0.1"}, "within 2 releases"),
    ],
)
def test_a_flag_without_owner_removal_task_or_near_expiry_is_refused(
    changes: dict[str, str], reason: str
) -> None:
    fields = {
        "name": "x",
        "setting": "model_download_jobs",
        "owner": "someone",
        "added_in_release": "0.1",
        "expires_in_release": "0.3",
        "removal_task": "delete it",
        "description": "x",
        **changes,
    }
    with pytest.raises(ValueError, match=reason):
        FeatureFlag(**fields)


def test_expiry_compares_releases() -> None:
    [flag] = [f for f in FLAGS if f.name == "tracing"]
    assert flag.expires_in_release == "0.3"
    assert not flag.expired("0.2.9")
    assert flag.expired("0.3.0rc1")
    assert flag.expired("1.0.0")
    assert release("0.10.2") == (0, 10)


def test_config_flags_lists_each_flag_with_its_state() -> None:
    env = {"DREAMFORGE_MODEL_DOWNLOAD_JOBS": "true", "DREAMFORGE_TRACING": "off"}
    result = CliRunner().invoke(main, ["config", "flags"], env=env)
    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert header.split() == ["flag", "variable", "state", "owner", "expires", "removal"]
    by_name = {row.split()[0]: row for row in rows}
    assert set(by_name) == {flag.name for flag in FLAGS}
    for flag in FLAGS:
        state = "on" if flag.name == "model-download-jobs" else "off"
        assert by_name[flag.name].split()[1:3] == [flag.variable, state]
        assert flag.owner in by_name[flag.name]
        assert by_name[flag.name].endswith(flag.removal_task)
