"""The launcher the end-to-end tests start their services from (tests/support/launcher.py):
a fork behaves as `python -m dreamforge_apps.cli …` would."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from dreamforge_apps.benchmarks.ports import free_port
from dreamforge_apps.benchmarks.readiness import wait_until_ready
from tests.support.launcher import LaunchedProcess, start_service


def test_a_command_runs_with_its_own_arguments_environment_and_log(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    env = {**os.environ, "DREAMFORGE_DATA_DIR": str(tmp_path / "data")}
    proc = start_service(["model", "list"], env, log)
    assert isinstance(proc, LaunchedProcess)
    assert proc.wait(60) == 0
    assert log.read_text().strip() == "no models registered"  # its own, fresh data directory


def test_a_failing_command_reports_its_exit_code(tmp_path: Path) -> None:
    proc = start_service(["no-such-command"], dict(os.environ), tmp_path / "out.log")
    assert proc.wait(60) == 2  # click's usage error
    assert "No such command" in (tmp_path / "out.log").read_text()


def test_a_killed_service_reports_the_signal_and_waits_time_out_as_popen(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DREAMFORGE_DATA_DIR": str(tmp_path / "data"),
        "DREAMFORGE_RUNNER": "fake",
    }
    proc = start_service(["serve", "--port", str(port)], env, tmp_path / "serve.log")
    wait_until_ready(f"http://127.0.0.1:{port}/health", proc, timeout_s=120)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(0.2)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    proc.terminate()  # as Popen: no signal to a process known to have exited


def test_an_environment_the_interpreter_reads_at_start_gets_a_fresh_interpreter(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "DREAMFORGE_DATA_DIR": str(tmp_path)}
    proc = start_service(["model", "list"], env, tmp_path / "out.log")
    assert isinstance(proc, subprocess.Popen)
    assert proc.wait(60) == 0
