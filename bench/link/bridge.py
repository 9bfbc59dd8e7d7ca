"""A plain kernel bridge between a link's two interfaces (netem's carrier, the benchmark's baseline)."""

from __future__ import annotations

from bench.lab import netns

BRIDGE_NAME = "skybr0"


def create_bridge(ns: str, term_if: str, gnd_if: str, name: str = BRIDGE_NAME) -> None:
    """Bridge term and gnd: STP off (ports forward at once), no address, IPv6 off (no chatter)."""
    with netns.ipr(ns) as ipr:
        ipr.link("add", ifname=name, kind="bridge", br_stp_state=0, br_forward_delay=0)
        bridge = ipr.link_lookup(ifname=name)[0]
        netns.sysctl(ns, f"net.ipv6.conf.{name}.disable_ipv6", 1)
        for port in (term_if, gnd_if):
            index = ipr.link_lookup(ifname=port)[0]
            ipr.link("set", index=index, master=bridge)
            ipr.link("set", index=index, state="up")
        ipr.link("set", index=bridge, state="up")


def remove_bridge(ns: str, name: str = BRIDGE_NAME) -> None:
    """Delete the bridge; its ports are released and stay up."""
    if not netns.exists(ns):
        return
    with netns.ipr(ns) as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            ipr.link("del", index=found[0])
