"""HTB on the router's ports, with pyroute2 (no `tc` subprocess).

Each WAN port (uplink): the link's rate, split into the router's own traffic (probes, payment
checks), operations and passengers; each class is guaranteed its share (rate) and may borrow up
to the whole link (ceil), in priority order. The passenger port (downlink): premium and
unauthenticated traffic in a wide default class, and one class per free-tier client holding
that client to the free-tier cap. Classes are picked by skb->priority, which the nftables
ruleset sets (nftables.WAN_CLASS_*, client_class map).
"""

from __future__ import annotations

import errno
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from bench.devices.reference.config import RouterConfig
from bench.devices.reference.plan import WanPort

ROOT = 0x10000  # handle 1:
LAN_DEFAULT_MINOR = 0x2
LAN_WIDE_KBIT = 10_000_000  # "no cap": far above anything the lab's links carry


def _burst(kbit: int) -> int:
    # At least one 64 KiB GSO super-packet, else about 20 ms at the rate: HTB cannot send a
    # packet larger than its bucket in one go.
    return max(65536, kbit * 1000 // 8 // 50)


def _add_class(ipr: Any, index: int, minor: int, parent: int, kbit: int, ceil_kbit: int, prio: int) -> None:
    ipr.tc(
        "add-class", "htb", index=index, handle=(ROOT | minor), parent=parent,
        rate=f"{kbit}kbit", ceil=f"{ceil_kbit}kbit", prio=prio,
        burst=_burst(kbit), cburst=_burst(ceil_kbit),
    )


def shape_wan(ipr: Any, wan: WanPort, config: RouterConfig) -> None:
    """Root HTB with the three uplink classes on one WAN port (replacing what was there)."""
    index = ipr.link_lookup(ifname=wan.ifname)[0]
    _remove_root(ipr, index)
    link = wan.uplink_kbit
    router = max(1, int(link * config.qos.router_share))
    ops = max(1, int(link * config.qos.ops_share))
    passengers = max(1, link - router - ops)
    ipr.tc("add", "htb", index=index, handle=ROOT, default=0x30)
    _add_class(ipr, index, 0x1, ROOT, link, link, 0)
    _add_class(ipr, index, 0x10, ROOT | 0x1, router, link, 0)
    _add_class(ipr, index, 0x20, ROOT | 0x1, ops, link, 1)
    _add_class(ipr, index, 0x30, ROOT | 0x1, passengers, link, 2)


def shape_passenger_lan(ipr: Any, ifname: str) -> None:
    """Root HTB on the passenger port: the wide default class; clients' classes come later."""
    index = ipr.link_lookup(ifname=ifname)[0]
    _remove_root(ipr, index)
    ipr.tc("add", "htb", index=index, handle=ROOT, default=LAN_DEFAULT_MINOR)
    _add_class(ipr, index, 0x1, ROOT, LAN_WIDE_KBIT, LAN_WIDE_KBIT, 0)
    _add_class(ipr, index, LAN_DEFAULT_MINOR, ROOT | 0x1, LAN_WIDE_KBIT, LAN_WIDE_KBIT, 0)


def add_client_class(ipr: Any, ifname: str, minor: int, cap_kbit: int) -> None:
    """One free-tier client's download class: rate = ceil = the cap (it never borrows)."""
    index = ipr.link_lookup(ifname=ifname)[0]
    # Try to add and accept "exists": listing every class first made each login cost O(clients)
    # (a 300-passenger boarding storm stalled the portal).
    try:
        _add_class(ipr, index, minor, ROOT | 0x1, cap_kbit, cap_kbit, 1)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise


def class_stats(ipr: Any, ifname: str) -> dict[str, dict[str, int]]:
    """Bytes and packets sent per HTB class of a port ("1:20" -> {...})."""
    index = ipr.link_lookup(ifname=ifname)[0]
    out: dict[str, dict[str, int]] = {}
    for c in ipr.get_classes(index=index):
        handle = c["handle"]
        stats = c.get_attr("TCA_STATS2")
        basic = stats.get_attr("TCA_STATS_BASIC") if stats else None
        queue = stats.get_attr("TCA_STATS_QUEUE") if stats else None
        out[f"{handle >> 16:x}:{handle & 0xFFFF:x}"] = {
            "bytes": basic["bytes"] if basic else 0,
            "packets": basic["packets"] if basic else 0,
            "drops": queue["drops"] if queue else 0,
        }
    return out


def _remove_root(ipr: Any, index: int) -> None:
    try:
        ipr.tc("del", index=index, handle=0, parent=0xFFFFFFFF)
    except Exception:  # noqa: BLE001 - no root qdisc yet (the default) is what we want
        pass
