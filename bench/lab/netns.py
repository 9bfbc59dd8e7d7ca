"""Network namespaces: create, enter, remove, run code and processes inside them.

All through pyroute2 and the kernel's setns(2); nothing here shells out to `ip`. The host's root
namespace is never modified: links are created directly inside lab namespaces.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pyroute2 import NetNS, netns

from bench.errors import HostError

NETNS_RUN_DIR = Path("/run/netns")

T = TypeVar("T")


def exists(name: str) -> bool:
    return (NETNS_RUN_DIR / name).exists()


def list_names() -> list[str]:
    return sorted(netns.listnetns())


def create(name: str) -> None:
    """Create a named namespace (a bind mount under /run/netns)."""
    try:
        netns.create(name)
    except PermissionError as exc:
        raise HostError(
            f"cannot create network namespace {name!r}: {exc.strerror}",
            fix="run the bench as root (or with CAP_NET_ADMIN and CAP_SYS_ADMIN)",
        ) from exc
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise HostError(
                f"network namespace {name!r} already exists",
                fix="run `skybench lab clean` to remove a previous lab's leftovers",
            ) from exc
        raise


def inode(name: str) -> int:
    """The namespace's inode: how processes inside it are recognised (/proc/PID/ns/net)."""
    return os.stat(NETNS_RUN_DIR / name).st_ino


def pids_in(ns_inode: int) -> list[int]:
    """Processes whose network namespace is the given one."""
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry.name}/ns/net").st_ino == ns_inode:
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def kill_pids(pids: Sequence[int], *, grace_s: float = 2.0) -> None:
    """SIGTERM, wait up to grace_s, then SIGKILL whatever is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive or sig == signal.SIGKILL:
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            alive = [p for p in alive if _alive(p)]
            if not alive:
                return
            time.sleep(0.05)
        pids = alive


def _alive(pid: int) -> bool:
    try:
        # A zombie still answers kill(0); look at its state so a child we have not reaped yet
        # counts as gone.
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().split(b") ", 1)[1][:1] != b"Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def remove(name: str) -> None:
    """Kill the processes inside, then remove the namespace (its links go with it)."""
    if not exists(name):
        return
    try:
        kill_pids(pids_in(inode(name)))
    except FileNotFoundError:
        return
    netns.remove(name)


def run_in(name: str, fn: Callable[[], T]) -> T:
    """Run fn in a thread that has entered the namespace; sockets it opens belong there.

    setns(2) for a network namespace changes only the calling thread, so the caller's thread and
    the rest of the process stay in the root namespace.
    """
    result: dict[str, object] = {}

    def target() -> None:
        try:
            netns.setns(name, flags=0)  # flags=0: never create a namespace by entering it
            result["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name=f"netns:{name}", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]  # type: ignore[return-value]


def start_in(name: str, fn: Callable[[], object], *, thread_name: str | None = None) -> threading.Thread:
    """Start a daemon thread that enters the namespace and runs fn there, alongside the caller
    (probes, clients, senders); join it when done. An exception in fn goes to threading's hook."""

    def target() -> None:
        netns.setns(name, flags=0)
        fn()

    thread = threading.Thread(target=target, name=thread_name or f"netns:{name}", daemon=True)
    thread.start()
    return thread


_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def popen(name: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Start a process inside the namespace, in its own process group.

    The namespace file is opened and setns(2) resolved in the parent, so between fork and exec
    the child makes one syscall: a fork of a multi-threaded process (pyroute2 and the bench run
    threads) must not load libraries or take locks there.
    """
    try:
        fd = os.open(NETNS_RUN_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise HostError(f"network namespace {name!r} does not exist", fix="is the lab up? `skybench lab status`") from None
    setns = _libc.setns

    def enter() -> None:
        if setns(fd, CLONE_NEWNET) != 0:
            os._exit(111)
        os.setpgrp()  # its own process group, so a Ctrl-C on the terminal reaches only the bench

    try:
        return subprocess.Popen(list(argv), preexec_fn=enter, **kwargs)
    finally:
        os.close(fd)


def run(name: str, argv: Sequence[str], *, timeout: float = 30.0, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to completion inside the namespace and capture its output as text."""
    proc = popen(name, argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise HostError(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s in namespace {name}") from None
    result = subprocess.CompletedProcess(list(argv), proc.returncode, out, err)
    if check and proc.returncode != 0:
        raise HostError(
            f"`{' '.join(argv)}` failed in namespace {name} (exit {proc.returncode}): {(err or out).strip()}"
        )
    return result


def sysctl(name: str, key: str, value: str | int) -> None:
    """Set a sysctl inside the namespace (/proc/sys/net is per namespace of the opening thread)."""
    path = "/proc/sys/" + key.replace(".", "/")

    def write() -> None:
        with open(path, "w") as f:
            f.write(str(value))

    run_in(name, write)


@contextmanager
def ipr(name: str) -> Iterator[NetNS]:
    """A pyroute2 netlink handle bound to the namespace."""
    if not exists(name):
        # NetNS would create a missing namespace; a typo must not leave a stray one behind.
        raise HostError(f"network namespace {name!r} does not exist", fix="is the lab up? `skybench lab status`")
    handle = NetNS(name, flags=0)
    try:
        yield handle
    finally:
        handle.close()
