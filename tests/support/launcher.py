"""Service processes for the end-to-end tests, forked from a process that has already imported
the service: `dreamforge serve`, `api` and `worker`, each a process of its own as in production.

Started as `python -m dreamforge_apps.cli …`, each of these spends about a CPU-second importing
Litestar, pydantic, structlog, Dramatiq and the project before it does anything, and the suite
starts some two hundred of them on two cores. Here a launcher process, one per test process,
imports all that once; each service is a fork of it that runs the same command line
(`dreamforge_apps.cli` as `__main__`, with its own argv, environment and log file) and exits as
the interpreter would. The test holds a `LaunchedProcess`, which answers as much of
`subprocess.Popen` as the tests use: `pid`, `poll`, `wait`, `send_signal`, `terminate`, `kill`.

The launcher only imports: it opens no connection, starts no thread and no event loop, so what
each fork inherits is what a fresh interpreter would have made. `DREAMFORGE_TEST_COLD_START=1`
starts every service as a fresh interpreter instead.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

COLD_START = os.environ.get("DREAMFORGE_TEST_COLD_START") == "1"
#: Variables a service reads only when its command runs: the project's settings, its model
#: sources' (`HF_*` is also read by huggingface_hub, which the launcher does not import:
#: tests/integration/test_launcher.py checks), pytest's own, and torch's compiler's: torch (not
#: imported by the launcher either) sets `TORCHINDUCTOR_CACHE_DIR` in any process that imports
#: diffusers, a test process included, and every later service of that process would otherwise
#: start fresh.
RUNTIME_VARIABLES = ("DREAMFORGE_", "HF_", "CIVITAI_", "PYTEST_", "TORCHINDUCTOR_")
#: Libraries that read variables of those prefixes as they are imported.
NOT_PRELOADED = ("huggingface_hub", "diffusers", "transformers", "torch")
ROOT = Path(__file__).resolve().parents[2]


class LaunchedProcess:
    """A service forked by the launcher: not this process's child, so its exit status comes
    from the launcher, which reaps it."""

    def __init__(self, launcher: Launcher, pid: int, args: list[str]) -> None:
        self._launcher = launcher
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._launcher.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.poll() is None:
            self.returncode = self._launcher.wait(self.pid, timeout, self.args)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # as Popen: no signal to a process known to have exited
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Launcher:
    """The client of one launcher process: asks it for forks and hears of their exits."""

    def __init__(self) -> None:
        self.environment = dict(os.environ)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.launcher_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        self._lock = threading.Lock()  # one request at a time: answers come in order
        self._changed = threading.Condition()
        self._started: list[int] = []
        self._exits: dict[int, int] = {}
        self._reader = threading.Thread(target=self._read, name="launcher-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            message = json.loads(line)
            with self._changed:
                if "started" in message:
                    self._started.append(message["started"])
                else:
                    self._exits[message["exited"]] = message["code"]
                self._changed.notify_all()
        with self._changed:
            self._started.append(-1)  # the launcher is gone: wake any waiting request
            self._changed.notify_all()

    def can_start(self, env: dict[str, str]) -> bool:
        """Whether a fork is what a fresh interpreter with `env` would be: only the variables
        read when the command runs (`RUNTIME_VARIABLES`) may differ from the launcher's
        environment. Anything else, PYTHONPATH say, may be read by the interpreter
        or a library as it starts or imports, so such a service starts as a fresh process."""
        base = self.environment
        return all(
            name.startswith(RUNTIME_VARIABLES)
            for name in env.keys() | base.keys()
            if env.get(name) != base.get(name)
        )

    def launch(
        self, args: list[str], env: dict[str, str], log: Path, errors: Path | None = None
    ) -> LaunchedProcess:
        request = {
            "args": args,
            "env": env,
            "log": str(log),
            "errors": str(errors or log),
            "cwd": os.getcwd(),
        }
        with self._lock:
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(request).encode() + b"\n")
            self._proc.stdin.flush()
            with self._changed:
                self._changed.wait_for(lambda: bool(self._started), timeout=30)
                if not self._started or self._started[0] < 0:
                    raise RuntimeError("the service launcher did not answer")
                pid = self._started.pop(0)
        return LaunchedProcess(self, pid, ["dreamforge", *args])

    def exit_code(self, pid: int) -> int | None:
        with self._changed:
            return self._exits.get(pid)

    def wait(self, pid: int, timeout: float | None, args: list[str]) -> int:
        with self._changed:
            if not self._changed.wait_for(lambda: pid in self._exits, timeout=timeout):
                raise subprocess.TimeoutExpired(args, timeout or 0)
            return self._exits[pid]

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()  # the launcher exits at the end of its input
        self._proc.wait(10)


#: A started service, as the tests hold it.
Service = LaunchedProcess | subprocess.Popen[bytes]

_launcher: Launcher | None = None


def _the_launcher() -> Launcher | None:
    global _launcher
    if _launcher is None and not COLD_START:
        _launcher = Launcher()
        atexit.register(_launcher.close)
    return _launcher


def launcher_environment() -> dict[str, str]:
    """The environment the launcher started with: a service whose own differs from it only in
    `RUNTIME_VARIABLES` is forked."""
    launcher = _the_launcher()
    return dict(launcher.environment if launcher else os.environ)


def start_service(
    args: list[str], env: dict[str, str], log: Path, errors: Path | None = None
) -> Service:
    """`dreamforge <args>` as a process of its own, its output appended to `log` (its standard
    error to `errors`, if given)."""
    launcher = _the_launcher()
    if launcher is None or not launcher.can_start(env):
        with log.open("ab") as out, (errors or log).open("ab") as err:
            return subprocess.Popen(
                [sys.executable, "-m", "dreamforge_apps.cli", *args],
                env=env,
                stdout=out,
                stderr=err,
            )
    return launcher.launch(args, env, log, errors)


def run_command(
    args: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """`dreamforge <args>` to its end, as `subprocess.run(…, capture_output=True, text=True,
    timeout=timeout)` runs it: killed, and TimeoutExpired raised, when it takes longer."""
    with tempfile.TemporaryDirectory(prefix="dreamforge-command-") as folder:
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        proc = start_service(args, env, out, err)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        return subprocess.CompletedProcess(proc.args, code, out.read_text(), err.read_text())


def run_checked(
    args: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """`run_command` that fails the test, with the command's standard error, when the command
    exits with a non-zero status."""
    done = run_command(args, env, timeout)
    assert done.returncode == 0, f"{done.args} exited {done.returncode}: {done.stderr}"
    return done
