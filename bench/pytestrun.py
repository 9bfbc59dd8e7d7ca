"""Running a suite as a pytest child process: its output shown line by line and kept in
`pytest.log`, and a stop asked of the bench passed on to the child.

`skybench run`, `skybench certify` and `skybench repro` run pytest this way. SIGTERM or Ctrl-C to
the bench is forwarded to pytest as SIGTERM; pytest (the skybench plugin) stops the running test,
tears its lab down, starts no further test and exits; the bench then reads the rest of its output
and reports the run as interrupted with 128 + the signal's number. Nothing is left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench.signals import STOP_SIGNALS, exit_status

__all__ = ["PytestRun", "run_pytest"]


@dataclass(frozen=True)
class PytestRun:
    exit_status: int  # pytest's own (0 passed, 1 failed, 2 interrupted, ...)
    stopped_by: int | None  # the signal that asked the bench to stop, if one did

    @property
    def interrupted(self) -> bool:
        return self.stopped_by is not None or self.exit_status == 2

    def bench_status(self) -> int:
        """What the bench command exits with: 128 + the signal when stopped, else pytest's status."""
        return exit_status(self.stopped_by) if self.stopped_by is not None else self.exit_status


def run_pytest(argv: list[str], *, run_dir: Path, echo: Callable[[str], None], env: dict[str, str] | None = None) -> PytestRun:
    """Run `argv` (a pytest command line) with SKYBENCH_RUN_DIR=run_dir, each output line to `echo`
    and to run_dir/pytest.log; a SIGTERM or SIGINT meanwhile is passed on (see the module's doc)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    child_env = {**(env if env is not None else os.environ), "SKYBENCH_RUN_DIR": str(run_dir)}
    stopped: list[int] = []
    with open(run_dir / "pytest.log", "a") as log:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env)

        def forward(signum: int, frame: FrameType | None) -> None:
            if not stopped:
                echo(f"skybench: {signal.Signals(signum).name}: stopping the run (the current test's lab is torn down)")
            stopped.append(signum)
            try:
                proc.send_signal(signal.SIGTERM)  # the child ignores any after its first
            except ProcessLookupError:
                pass

        in_main = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.signal(sig, forward) for sig in STOP_SIGNALS} if in_main else {}
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # a signal handled meanwhile does not end this read (PEP 475)
                log.write(line)
                log.flush()
                echo(line.rstrip("\n"))
            status = proc.wait()
        except BaseException:  # the bench itself failed: the child must not run on without it
            proc.terminate()
            proc.wait(timeout=120)
            raise
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
    return PytestRun(exit_status=status, stopped_by=stopped[0] if stopped else None)
