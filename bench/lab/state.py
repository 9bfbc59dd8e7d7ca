"""The cleanup ledger: every host object a lab creates is written down *before* it is created.

One JSON file per lab under /run/skybench/labs (tmpfs: it vanishes on reboot together with the
namespaces and processes it describes, so power loss needs no cleanup). A lab removes what its
ledger lists on exit; after a SIGKILL the next run, or `skybench lab clean`, finds ledgers whose
owner process is gone and removes what they list.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.atomicfile import write_text_atomically
from bench.errors import BenchError
from bench.lab import netns

log = logging.getLogger("skybench.lab")

STATE_DIR = Path(os.environ.get("SKYBENCH_STATE_DIR", "/run/skybench/labs"))
PREFIX_RE = re.compile(r"^sb[0-9a-f]{6}$")
NS_NAME_RE = re.compile(r"^(sb[0-9a-f]{6})-")


def new_prefix() -> str:
    """A per-run prefix carried by every name the lab creates: `sb` and six hex digits."""
    return "sb" + secrets.token_hex(3)


def _process_start(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


@dataclass
class Ledger:
    """What one lab has created on this host, persisted as it happens."""

    prefix: str
    owner_pid: int = field(default_factory=os.getpid)
    owner_start: float | None = None
    created_at: float = field(default_factory=time.time)
    objects: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # what the lab is, for `lab status`

    def __post_init__(self) -> None:
        if self.owner_start is None:
            self.owner_start = _process_start(self.owner_pid)

    @property
    def path(self) -> Path:
        return STATE_DIR / f"{self.prefix}.json"

    # -- persistence ----------------------------------------------------------------------------
    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        data = {
            "prefix": self.prefix,
            "owner_pid": self.owner_pid,
            "owner_start": self.owner_start,
            "created_at": self.created_at,
            "objects": self.objects,
            "meta": self.meta,
        }
        write_text_atomically(self.path, json.dumps(data, indent=1), durable=True)

    @classmethod
    def load(cls, path: Path) -> Ledger:
        data = json.loads(path.read_text())
        return cls(
            prefix=data["prefix"],
            owner_pid=data["owner_pid"],
            owner_start=data.get("owner_start"),
            created_at=data.get("created_at", 0.0),
            objects=data.get("objects", []),
            meta=data.get("meta", {}),
        )

    # -- recording ------------------------------------------------------------------------------
    def record(self, kind: str, **info: Any) -> dict[str, Any]:
        entry = {"kind": kind, **info}
        self.objects.append(entry)
        self.save()
        return entry

    def update(self, entry: dict[str, Any], **info: Any) -> None:
        entry.update(info)
        self.save()

    def forget(self, entry: dict[str, Any]) -> None:
        if entry in self.objects:
            self.objects.remove(entry)
            self.save()

    def forget_process(self, pid: int) -> None:
        """Drop a process that has ended from the ledger."""
        for entry in [e for e in self.objects if e["kind"] == "process" and e.get("pid") == pid]:
            self.forget(entry)

    def owner_alive(self) -> bool:
        start = _process_start(self.owner_pid)
        if start is None:
            return False
        # A recycled PID has a different start time.
        return self.owner_start is None or abs(start - self.owner_start) < 1.0

    # -- teardown -------------------------------------------------------------------------------
    def teardown(self) -> list[str]:
        """Remove everything listed, newest first; return what was removed (for the log)."""
        removed: list[str] = []
        for entry in sorted(self.objects, key=_teardown_order):
            if _remove_object(entry):
                removed.append(_describe(entry))
        self.objects.clear()
        self.path.unlink(missing_ok=True)
        return removed


def _teardown_order(entry: dict[str, Any]) -> int:
    # Processes first (they hold namespaces open), then the host's interfaces back to the host
    # (before their namespace goes: a veth would die with it), then namespaces (their links go
    # with them), then files.
    return {"process": 0, "host_interface": 1, "netns": 2, "file": 3}.get(entry["kind"], 4)


def _describe(entry: dict[str, Any]) -> str:
    if entry["kind"] == "process":
        return f"process {entry['pid']} ({entry.get('name', '?')})"
    if entry["kind"] == "netns":
        return f"namespace {entry['name']}"
    if entry["kind"] == "host_interface":
        return f"host interface {entry['interface']['name']} handed back"
    return f"{entry['kind']} {entry.get('path') or entry.get('name')}"


def _remove_object(entry: dict[str, Any]) -> bool:
    kind = entry["kind"]
    if kind == "process":
        pid = entry["pid"]
        start = _process_start(pid)
        if start is None or (entry.get("start") and abs(start - entry["start"]) >= 1.0):
            return False
        netns.kill_pids([pid])
        return True
    if kind == "netns":
        if not netns.exists(entry["name"]):
            return False
        netns.remove(entry["name"])
        return True
    if kind == "host_interface":
        from bench.lab import hostif  # it imports pyroute2's IPRoute: only labs with cables need it

        try:
            hostif.restore(entry)
        except (OSError, BenchError) as exc:  # the rest of the teardown must still run
            log.warning("%s", exc)
            return False
        return True
    if kind == "file":
        path = Path(entry["path"])
        if path.exists():
            path.unlink()
            return True
    return False


@contextmanager
def _cleanup_lock() -> Iterator[None]:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ledgers() -> list[Ledger]:
    if not STATE_DIR.exists():
        return []
    found = []
    for path in sorted(STATE_DIR.glob("sb*.json")):
        try:
            found.append(Ledger.load(path))
        except (OSError, ValueError, KeyError):
            # An unreadable ledger cannot be trusted to name its objects; the orphan sweep below
            # still finds its namespaces by their prefix.
            path.unlink(missing_ok=True)
    return found


@dataclass
class CleanReport:
    labs: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped_live: list[str] = field(default_factory=list)


def clean_stale(*, include_live: bool = False, sweep_unclaimed: bool = False) -> CleanReport:
    """Remove what labs whose owner died left behind.

    With include_live, also tear down labs whose owner still runs (`skybench lab clean --all`).
    With sweep_unclaimed, also remove namespaces named like a lab's that no ledger claims (a
    ledger is written before anything is created, so these only appear when a ledger was lost;
    only the explicit `skybench lab clean` does this, never a lab that is starting).
    """
    report = CleanReport()
    with _cleanup_lock():
        live_prefixes: set[str] = set()
        for ledger in ledgers():
            if ledger.owner_alive() and not include_live:
                live_prefixes.add(ledger.prefix)
                report.skipped_live.append(ledger.prefix)
                continue
            report.labs.append(ledger.prefix)
            report.removed.extend(ledger.teardown())
        for name in netns.list_names() if sweep_unclaimed else []:
            match = NS_NAME_RE.match(name)
            if match and match.group(1) not in live_prefixes:
                netns.remove(name)
                report.removed.append(f"namespace {name} (no ledger)")
    return report
