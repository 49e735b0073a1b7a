"""The lease renewal beats for the jobs it holds, and only for those."""

from __future__ import annotations

import threading
import time

from dreamforge_adapters.system import SystemThreads
from dreamforge_core.use_cases.lease_renewal import LeaseRenewal


class Counting:
    def __init__(self) -> None:
        self.beats = 0
        self.beaten = threading.Event()

    def beat(self) -> None:
        self.beats += 1
        self.beaten.set()


def test_held_jobs_are_beaten_and_released_ones_are_not() -> None:
    keeper = LeaseRenewal(0.01, SystemThreads())
    held, released = Counting(), Counting()
    keeper.keep(held)
    keeper.keep(released)
    keeper.release(released)
    assert held.beaten.wait(5.0)
    time.sleep(0.05)
    assert held.beats >= 2
    assert released.beats == 0
    keeper.release(held)
    time.sleep(0.03)  # a beat already under way may still land
    after = held.beats
    time.sleep(0.05)
    assert held.beats == after
