"""A snapshot of the host's root network namespace, to prove the bench left it as it was."""

from __future__ import annotations

from dataclasses import dataclass

from pyroute2 import IPRoute

from bench.lab import netns


@dataclass(frozen=True)
class HostSnapshot:
    links: frozenset[tuple[str, str]]
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


def host_snapshot() -> HostSnapshot:
    with IPRoute() as ipr:
        links = frozenset((l.get_attr("IFLA_IFNAME"), l.get_attr("IFLA_ADDRESS") or "") for l in ipr.get_links())
        addresses = frozenset(
            (a.get_attr("IFA_LABEL") or str(a["index"]), a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr()
        )
        routes = frozenset(
            (str(r.get_attr("RTA_DST")), str(r.get_attr("RTA_GATEWAY")), r.get_attr("RTA_TABLE") or 0) for r in ipr.get_routes(table=254)
        )
    return HostSnapshot(links, addresses, routes, frozenset(netns.list_names()))
