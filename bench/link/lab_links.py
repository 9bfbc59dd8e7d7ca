"""A running lab's links, from another process: found through the lab's ledger, changed through
the same link API (attached, not owned), every change appended to the lab's change log.

The lab writes, in `_attach_links`, each WAN's `LinkAddress` into its ledger meta
(`link_control`); `skybench link show|set` reads it back here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.lab.state import STATE_DIR, Ledger, ledgers
from bench.link.api import EmulatedLink, attach_link
from bench.link.backend import LinkAddress

CHANGE_LOG_SUFFIX = ".link-changes.jsonl"


def link_change_log(ledger: Ledger) -> Path:
    """The lab's log of hand-made link changes (one JSON object a line), under the state dir."""
    return STATE_DIR / f"{ledger.prefix}{CHANGE_LOG_SUFFIX}"


def running_lab(prefix: str | None = None) -> Ledger:
    """The ledger of the running lab `prefix`, or of the only running lab."""
    live = [led for led in ledgers() if led.owner_alive() and "link_control" in led.meta]
    if prefix is not None:
        found = [led for led in live if led.prefix == prefix]
        if not found:
            raise BenchError(f"no running lab with prefix {prefix!r} on this host",
                             fix="`skybench lab status` lists the labs; start one with `skybench lab up --detach`")
        return found[0]
    if not live:
        raise BenchError("no lab with emulated links is running on this host",
                         fix="start one with `skybench lab up --detach`")
    if len(live) > 1:
        raise BenchError(f"{len(live)} labs are running: {', '.join(led.prefix for led in live)}",
                         fix="choose one with --lab-prefix")
    return live[0]


def link_addresses(ledger: Ledger) -> dict[str, LinkAddress]:
    return {wan: LinkAddress.model_validate(data) for wan, data in ledger.meta.get("link_control", {}).items()}


def attach_lab_link(ledger: Ledger, wan: str) -> EmulatedLink:
    """Attach to one WAN's link of a running lab (close it to let go; the link runs on)."""
    addresses = link_addresses(ledger)
    if wan not in addresses:
        raise BenchError(f"lab {ledger.prefix} has no WAN {wan!r}; it has: {', '.join(addresses) or 'none'}",
                         fix="`skybench link show` lists the WANs")
    return attach_link(addresses[wan])


def log_change(ledger: Ledger, wan: str, change: dict[str, Any], spec_after: dict[str, str]) -> dict[str, Any]:
    entry = {"at": time.time(), "wan": wan, "change": change, "after": spec_after}
    with open(link_change_log(ledger), "a") as log:
        log.write(json.dumps(entry) + "\n")
    return entry


def read_changes(ledger: Ledger) -> list[dict[str, Any]]:
    path = link_change_log(ledger)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
