"""Stopping means stopping: SIGTERM (what a CI system sends to abort a job) and Ctrl-C unwind the
process like an exception, so every `finally` and fixture teardown runs, and the lab is removed.

`stop_on_signals` installs one handler for both signals. The first signal raises the given
exception in the main thread; any later one is ignored with a line on stderr, so a second Ctrl-C
or a repeated SIGTERM cannot cut a teardown in half (SIGKILL then `skybench lab clean` remains the
way to force it). A process forked from this one (pyroute2 forks short-lived helpers) inherits the
handler and a copy of the stack; it exits at once instead of unwinding into a teardown.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["STOP_SIGNALS", "default_sigterm", "exit_status", "stop_on_signals", "stop_requested"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_state: dict[str, Any] = {"owner": os.getpid(), "received": None}


def exit_status(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number (130, 143)."""
    return 128 + signum


def stop_requested() -> int | None:
    """The signal that asked this process to stop, if one did."""
    return _state["received"]


def stop_on_signals(make_exception: Callable[[int], BaseException], *,
                    signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Callable[[], None]:
    """Turn the first of `signals` into `make_exception(signum)` raised in the main thread.

    Returns a function that puts the previous handlers back. Outside the main thread (where
    Python cannot install handlers) it does nothing and returns a no-op."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    _state["owner"] = os.getpid()

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != _state["owner"]:
            os._exit(exit_status(signum))
        if _state["received"] is not None:
            sys.stderr.write(f"skybench: {signal.Signals(signum).name} again: already stopping (tearing down); "
                             f"SIGKILL then `skybench lab clean` forces it\n")
            return
        _state["received"] = signum
        raise make_exception(signum)

    previous = {sig: signal.signal(sig, handler) for sig in signals}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def default_sigterm() -> bool:
    """SIGTERM still has its default action (kill without unwinding): nobody above has taken it."""
    return signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)
