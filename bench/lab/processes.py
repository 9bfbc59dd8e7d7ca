"""Processes and code inside a host's namespaces, owned by its cleanup ledger: what a Lab and the
black-box router's host (bench/devices/reference/standin.py) share."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psutil

from bench.lab import netns
from bench.lab.state import Ledger
from bench.steps import step

T = TypeVar("T")


class NamespaceProcesses:
    """Needs `ledger` (a Ledger) and `ns(role)` (the namespace of a role)."""

    ledger: Ledger

    def ns(self, role: str) -> str:
        raise NotImplementedError

    def run_in(self, role: str, fn: Callable[[], T]) -> T:
        return netns.run_in(self.ns(role), fn)

    def popen(self, role: str, argv: Sequence[str], *, name: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a process inside a role's namespace; the ledger owns it from now on."""
        with step("start process", role=role, name=name, argv=" ".join(argv)):
            proc = netns.popen(self.ns(role), argv, **kwargs)
            self.ledger.record("process", pid=proc.pid, name=name, role=role, start=psutil.Process(proc.pid).create_time())
        return proc

    def stop_process(self, proc: subprocess.Popen[Any], *, grace_s: float = 2.0) -> None:
        """End a process started here (SIGTERM, then SIGKILL) and drop it from the ledger."""
        if proc.poll() is None:
            netns.kill_pids([proc.pid], grace_s=grace_s)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.ledger.forget_process(proc.pid)
