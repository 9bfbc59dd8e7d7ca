"""Start a process inside a namespace with nothing but one syscall between fork and exec.

bench.lab.netns.popen enters the namespace through pyroute2 in the forked child, which loads
libc with ctypes there; after a fork from a process with other threads (pyroute2 and the
bench run some) that can fail. Here the namespace file is opened and setns(2) resolved in the
parent, so the child only calls it.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Sequence
from typing import Any

from bench.errors import HostError
from bench.lab import netns

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_setns = _libc.setns


def popen_in(ns: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """subprocess.Popen(argv) with the child in network namespace `ns` and its own process group."""
    try:
        fd = os.open(str(netns.NETNS_RUN_DIR / ns), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise HostError(f"network namespace {ns!r} does not exist",
                        fix="create the lab first (or check the namespace name)") from None

    def enter() -> None:
        if _setns(fd, CLONE_NEWNET) != 0:
            os._exit(111)
        os.setpgrp()

    try:
        return subprocess.Popen(list(argv), preexec_fn=enter, **kwargs)
    finally:
        os.close(fd)


def run_in(ns: str, argv: Sequence[str], *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run to completion inside `ns`; output captured as text."""
    proc = popen_in(ns, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)
