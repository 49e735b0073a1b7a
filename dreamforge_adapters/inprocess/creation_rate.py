"""Job creations per caller and minute, counted in this process: the embedded server is the
only API process of its deployment."""

from __future__ import annotations

import threading

WINDOW_S = 60.0


class InProcessCreationRate:
    """Fixed one-minute windows per caller, as the Redis counter of the stack counts them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}  # caller -> (window number, count)

    def take(self, caller: str, per_minute: int, now_s: float) -> float | None:
        window = int(now_s // WINDOW_S)
        with self._lock:
            if len(self._windows) > 10_000:  # callers of windows past: forget them
                self._windows = {c: w for c, w in self._windows.items() if w[0] == window}
            current, count = self._windows.get(caller, (window, 0))
            if current != window:
                count = 0
            if count >= per_minute:
                return (window + 1) * WINDOW_S - now_s
            self._windows[caller] = (window, count + 1)
            return None
