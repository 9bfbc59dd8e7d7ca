"""Waiting to the millisecond: a 10 ms supply interruption must last 10 ms, not one scheduler tick more."""

from __future__ import annotations

import time

COARSE_MARGIN_S = 0.002  # sleep() may overshoot by a scheduler tick: the last stretch goes finer
FINE_STEP_S = 0.0001


def wait_until(deadline: float) -> None:
    """Return at `deadline` (time.perf_counter() seconds), as close as this host allows.

    The last stretch is short sleeps, not a busy spin: a spinning thread would hold the GIL and
    delay an emulated instrument served by this same process by up to the 5 ms switch interval.
    """
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return
        time.sleep(left - COARSE_MARGIN_S if left > COARSE_MARGIN_S else min(left, FINE_STEP_S))
