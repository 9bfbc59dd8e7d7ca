"""A snapshot of the host's root network namespace, to prove the bench left it as it was."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pyroute2 import IPRoute

from bench.lab import netns


@dataclass(frozen=True)
class HostSnapshot:
    links: frozenset[tuple[str, str, int, bool]]  # name, MAC, MTU, administratively up
    addresses: frozenset[tuple[str, str, int]]
    routes: frozenset[tuple[str, str, int]]
    namespaces: frozenset[str]

    def diff(self, other: HostSnapshot) -> dict[str, tuple[set[object], set[object]]]:
        """Per field: (only before, only after); empty when nothing changed."""
        out: dict[str, tuple[set[object], set[object]]] = {}
        for name in ("links", "addresses", "routes", "namespaces"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                out[name] = (set(a - b), set(b - a))
        return out


def _other_benches_namespaces() -> set[str]:
    """Namespaces of labs owned by processes outside this test run (another bench on the host):
    they come and go on their own and say nothing about what this run left behind."""
    import psutil

    from bench.lab.state import ledgers

    mine = {os.getpid(), *(p.pid for p in psutil.Process().children(recursive=True))}
    return {
        e["name"]
        for led in ledgers()
        if led.owner_alive() and led.owner_pid not in mine
        for e in led.objects
        if e["kind"] == "netns"
    }


def host_snapshot() -> HostSnapshot:
    with IPRoute() as ipr:
        links = frozenset((l.get_attr("IFLA_IFNAME"), l.get_attr("IFLA_ADDRESS") or "", l.get_attr("IFLA_MTU"), bool(l["flags"] & 1))
                          for l in ipr.get_links())
        addresses = frozenset(
            (a.get_attr("IFA_LABEL") or str(a["index"]), a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr()
        )
        routes = frozenset(
            (str(r.get_attr("RTA_DST")), str(r.get_attr("RTA_GATEWAY")), r.get_attr("RTA_TABLE") or 0) for r in ipr.get_routes(table=254)
        )
    return HostSnapshot(links, addresses, routes, frozenset(set(netns.list_names()) - _other_benches_namespaces()))
