"""Processes the traffic modules start in lab namespaces (a role's, or a passenger's own): in the
lab's ledger from the start, ended and forgotten by whoever started them (also on failure)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psutil

from bench.lab import netns
from bench.steps import step

if TYPE_CHECKING:
    from bench.lab.lab import Lab


def start(lab: Lab, ns: str, argv: Sequence[str], *, name: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    """A process in namespace `ns` (a full name); the lab's ledger owns it until `stop`."""
    with step("start process", ns=ns, name=name, argv=" ".join(argv)):
        proc = netns.popen(ns, argv, **kwargs)
        try:
            started = psutil.Process(proc.pid).create_time()
        except psutil.NoSuchProcess:
            started = None
        lab.ledger.record("process", pid=proc.pid, name=name, role=ns, start=started)
    return proc


def stop(lab: Lab, proc: subprocess.Popen[Any]) -> None:
    """End a process started with `start` and drop it from the ledger."""
    lab.stop_process(proc)
