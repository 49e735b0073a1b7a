"""The launcher the end-to-end tests start their services from (tests/support/launcher.py):
a fork behaves as `python -m dreamforge_apps.cli …` would."""

from __future__ import annotations

import ast
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dreamforge_apps.benchmarks.ports import free_port
from dreamforge_apps.benchmarks.readiness import wait_until_ready
from tests.support.launcher import (
    NOT_PRELOADED,
    LaunchedProcess,
    launcher_environment,
    run_command,
    start_service,
)
from tests.support.launcher_process import PRELOAD


def test_a_command_runs_with_its_own_arguments_environment_and_log(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    env = {**launcher_environment(), "DREAMFORGE_DATA_DIR": str(tmp_path / "data")}
    proc = start_service(["model", "list"], env, log)
    assert isinstance(proc, LaunchedProcess)
    assert proc.wait(60) == 0
    assert log.read_text().strip() == "no models registered"  # its own, fresh data directory


def test_a_failing_command_reports_its_exit_code(tmp_path: Path) -> None:
    proc = start_service(["no-such-command"], launcher_environment(), tmp_path / "out.log")
    assert proc.wait(60) == 2  # click's usage error
    assert "No such command" in (tmp_path / "out.log").read_text()


def test_a_killed_service_reports_the_signal_and_waits_time_out_as_popen(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **launcher_environment(),
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
    env = {**launcher_environment(), "PYTHONPATH": str(tmp_path)}
    env["DREAMFORGE_DATA_DIR"] = str(tmp_path)
    proc = start_service(["model", "list"], env, tmp_path / "out.log")
    assert isinstance(proc, subprocess.Popen)
    assert proc.wait(60) == 0


def test_a_variable_torch_sets_in_the_test_process_still_gets_a_fork(tmp_path: Path) -> None:
    env = {**launcher_environment(), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    env["DREAMFORGE_DATA_DIR"] = str(tmp_path)
    proc = start_service(["model", "list"], env, tmp_path / "out.log")
    assert isinstance(proc, LaunchedProcess)
    assert proc.wait(60) == 0


def test_the_launcher_imports_no_library_that_reads_a_variable_a_fork_may_change() -> None:
    imports = "; ".join(f"import {name}" for name in PRELOAD)
    found = subprocess.run(
        [sys.executable, "-c", f"{imports}; import sys; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    loaded = {name.split(".")[0] for name in ast.literal_eval(found)}
    assert loaded.isdisjoint(NOT_PRELOADED), loaded & set(NOT_PRELOADED)


def test_a_command_run_to_its_end_gives_its_output_and_errors_apart(tmp_path: Path) -> None:
    env = {**launcher_environment(), "DREAMFORGE_DATA_DIR": str(tmp_path / "data")}
    listed = run_command(["model", "list"], env, timeout=60)
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "no models registered\n", "")
    failed = run_command(["model", "disable", "nothing"], env, timeout=60)
    assert (failed.returncode, failed.stdout) == (1, "")
    assert "no model with id 'nothing'" in failed.stderr
