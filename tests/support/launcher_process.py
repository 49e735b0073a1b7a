"""The launcher process of `launcher.py`: it imports what a service imports, then forks one
service per request read from its standard input and reports, on its standard output, each
fork's pid and, once it has reaped it, its exit status (JSON lines).

It opens no connection and starts no thread or event loop before it forks, so a fork starts from
what a fresh interpreter would have built; the fork then becomes `python -m dreamforge_apps.cli
<args>` with the request's environment, working directory and log files.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import select
import signal
import sys
import threading
from typing import Any

#: What a service imports before it serves: the command line and the three services.
PRELOAD = (
    "dreamforge_apps.cli.main",
    "dreamforge_apps.bootstrap.resources",
    "dreamforge_apps.http_server",
    "dreamforge_apps.serve",
    "dreamforge_apps.stack_api",
    "dreamforge_apps.stack_worker",
)


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()  # before any fork, so that no child inherits a half-written line


def _reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _run_service(request: dict[str, Any], wakeup: tuple[int, int]) -> None:
    """In the fork: become `python -m dreamforge_apps.cli <args>` and exit as it would."""
    import runpy

    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in wakeup:
            os.close(fd)
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        os.close(stdin)
        for fd, path in ((1, request["log"]), (2, request["errors"])):
            opened = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.dup2(opened, fd)
            os.close(opened)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["dreamforge", *request["args"]]
        runpy.run_module("dreamforge_apps.cli", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        # What the interpreter does at its end: wait for non-daemon threads, run the exit
        # handlers, flush.
        try:
            threading._shutdown()  # type: ignore[attr-defined]
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _serve() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()  # the imported objects stay out of each fork's collections, their pages shared
    wakeup = os.pipe()
    for fd in wakeup:
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wakeup[1])
    signal.signal(signal.SIGCHLD, lambda *_: None)
    pending = b""
    while True:
        try:
            readable, _, _ = select.select([0, wakeup[0]], [], [])
        except InterruptedError:
            continue
        if wakeup[0] in readable:
            while True:
                try:
                    if not os.read(wakeup[0], 512):
                        break
                except BlockingIOError:
                    break
            _reap()
        if 0 in readable:
            data = os.read(0, 65536)
            if not data:
                return  # the tests are done: their fixtures stop what they started
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _run_service(request, wakeup)
                _send({"started": pid})


if __name__ == "__main__":
    _serve()
