"""Policy routing: one routing table per WAN, selected by the WAN's fwmark, and the main table's
default route through the active WAN (for the router's own traffic).

Flows get their mark from the nftables ruleset (class_mark map, kept per flow in conntrack); the
router daemon rewrites the map and the main default route on failover.
"""

from __future__ import annotations

from typing import Any

from bench.devices.reference.plan import RULE_PRIORITY_BASE, RouterPlan, WanPort
from bench.lab import netns

MARK_MASK = 0xFFFF


def install_wan_tables(ipr: Any, plan: RouterPlan) -> None:
    """Per-WAN tables (default via that WAN's terminal) and fwmark rules (idempotent)."""
    for wan in plan.wans:
        index = ipr.link_lookup(ifname=wan.ifname)[0]
        ipr.route("replace", dst="0.0.0.0/0", gateway=wan.gateway, oif=index, table=wan.table)
        for rule in ipr.get_rules(family=2):
            if rule.get_attr("FRA_PRIORITY") == RULE_PRIORITY_BASE + wan.index + 1:
                ipr.rule("del", family=2, priority=RULE_PRIORITY_BASE + wan.index + 1)
        ipr.rule("add", family=2, fwmark=wan.mark, fwmask=MARK_MASK, table=wan.table,
                 priority=RULE_PRIORITY_BASE + wan.index + 1)


def remove_wan_tables(ipr: Any, plan: RouterPlan) -> None:
    for wan in plan.wans:
        try:
            ipr.rule("del", family=2, priority=RULE_PRIORITY_BASE + wan.index + 1)
        except Exception:  # noqa: BLE001 - already gone
            pass
        try:
            ipr.route("del", dst="0.0.0.0/0", table=wan.table)
        except Exception:  # noqa: BLE001
            pass


def relax_reverse_path_filter(plan: RouterPlan) -> None:
    # Flows stay on the WAN they started on after a failback, so their replies arrive on a port
    # that is not the main table's way to the sender: strict rp_filter would drop them.
    for key in ["all", "default"] + [w.ifname for w in plan.wans]:
        netns.sysctl(plan.namespace, f"net.ipv4.conf.{key}.rp_filter", 0)


def set_main_default(ipr: Any, wan: WanPort) -> None:
    index = ipr.link_lookup(ifname=wan.ifname)[0]
    ipr.route("replace", dst="0.0.0.0/0", gateway=wan.gateway, oif=index)
