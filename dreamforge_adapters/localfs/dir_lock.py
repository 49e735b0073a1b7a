"""One server per data directory: an OS lock on a file in it, held while the process lives.

`flock` locks belong to the open file, so the kernel drops the lock when the process dies,
however it dies: a crashed server never blocks its restart, and no stale file needs removing.
The holder writes its pid into the file, so a refused process can say who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_FILE = "serve.lock"


class DirectoryInUse(Exception):
    """Raised when another process holds the directory's lock."""

    def __init__(self, directory: Path, holder_pid: int | None) -> None:
        who = f" (pid {holder_pid})" if holder_pid else ""
        super().__init__(f"another process{who} holds the lock of {directory}")
        self.directory = directory
        self.holder_pid = holder_pid


class DirectoryLock:
    """The lock of one directory, held by this process until `release` or its exit."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _pid_in(fd)
            os.close(fd)
            raise DirectoryInUse(directory, holder) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the only descriptor drops the lock


def _pid_in(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
