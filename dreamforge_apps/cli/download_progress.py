"""A download progress line for the terminal: bytes, rate and ETA over all files.

Fed from the fetcher's threads (one callback per file, about ten a second); redraws at most
five times a second on a terminal, and on a pipe or in CI prints a line per tenth of the total
instead of carriage-return redraws.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

_MIB = 1 << 20


def _size(n: float) -> str:
    return f"{n / _MIB:,.1f} MiB" if n < 1 << 30 else f"{n / (1 << 30):,.2f} GiB"


def _eta(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class DownloadProgressLine:
    def __init__(self, stream: TextIO | None = None, *, interval_s: float = 0.2) -> None:
        self._out = stream or sys.stderr
        self._tty = self._out.isatty()
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._done: dict[str, int] = {}
        self._total: dict[str, int | None] = {}
        self._started = time.monotonic()
        self._first: dict[str, int] = {}  # bytes a file already had (resumed): not in the rate
        self._drawn = 0.0
        self._tenth = -1

    def __call__(self, name: str, done: int, total: int | None) -> None:
        with self._lock:
            self._first.setdefault(name, done)
            self._done[name], self._total[name] = done, total
            now = time.monotonic()
            if now - self._drawn < self._interval_s and not (total and done >= total):
                return
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        done = sum(self._done.values())
        known = [t for t in self._total.values() if t is not None]
        total = sum(known) if len(known) == len(self._total) else None
        new = done - sum(self._first.values())
        rate = new / max(now - self._started, 1e-6)
        text = f"{_size(done)}"
        if total:
            text += f" / {_size(total)} ({100 * done / total:.0f}%)"
        text += f"  {_size(rate)}/s"
        if total and rate > 0:
            text += f"  ETA {_eta((total - done) / rate)}"
        text += f"  {len(self._done)} file(s)"
        if self._tty:
            self._out.write("\r" + text.ljust(78))
        else:
            tenth = int(10 * done / total) if total else -1
            if tenth == self._tenth:
                return
            self._tenth = tenth
            self._out.write(text + "\n")
        self._out.flush()

    def finish(self) -> None:
        with self._lock:
            if self._done:
                self._draw(time.monotonic())
            if self._tty:
                self._out.write("\n")
                self._out.flush()
