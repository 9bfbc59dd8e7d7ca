"""Host interfaces as the cables of a `kind: hardware` lab: checked, written down, moved into the
lab's namespaces, and handed back exactly as found.

A hardware lab file names host interfaces cabled to the DUT (its LAN, ops and WAN ports) and,
per WAN in real-terminal mode, to a real terminal. For the run each one moves into a lab
namespace under the name the lab uses there (`wifi0`, `ops0`, `lan0`, ...). Before it is touched
its state (name, MAC, MTU, up/down, addresses) is written to the lab's ledger; on exit, Ctrl-C,
SIGTERM, and after a SIGKILL by `skybench lab clean`, it goes back to the host's root namespace
with its name, MTU, addresses and up/down state as recorded.

An interface the host itself uses (it holds an address other than link-local IPv6, or a route
goes through it) is refused: moving it would cut the host off.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pyroute2 import IPRoute

from bench.errors import HostError
from bench.lab import netns

# The process's own network namespace (its main thread's: the bench enters lab namespaces only in
# threads of their own, bench.lab.netns.run_in), which is where the host's interfaces are.
ROOT_NS = "/proc/self/ns/net"
IFF_UP = 0x1


@dataclass(frozen=True)
class HostInterface:
    """One host interface as found in the root namespace."""

    name: str
    mac: str
    mtu: int
    up: bool
    carrier: bool
    kind: str | None  # veth, ... (None: a physical NIC)
    addresses: list[tuple[str, int]]  # (address, prefix length), IPv4 and global IPv6
    routes: list[str]  # destinations of main-table routes through it (besides its own prefixes)

    @property
    def used_by_host(self) -> bool:
        return bool(self.addresses or self.routes)

    def record(self) -> dict[str, Any]:
        return asdict(self)


def _ifname(link: Any) -> str:
    return str(link.get_attr("IFLA_IFNAME"))


def inspect(name: str) -> HostInterface | None:
    """The interface `name` in the host's root namespace (None: no such interface)."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return None
        index = found[0]
        link = ipr.get_links(index)[0]
        info = link.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
        addresses = []
        for a in ipr.get_addr(index=index):
            address = a.get_attr("IFA_ADDRESS")
            if a["family"] == 10 and str(address).lower().startswith("fe80"):
                continue  # link-local IPv6: every interface that is up has one; the host relies on none
            addresses.append((str(address), int(a["prefixlen"])))
        routes = []
        for r in ipr.get_routes(table=254):
            if r.get_attr("RTA_OIF") == index and r.get_attr("RTA_GATEWAY") is not None:
                routes.append(str(r.get_attr("RTA_DST") or "default"))
        return HostInterface(name=name, mac=str(link.get_attr("IFLA_ADDRESS") or ""), mtu=int(link.get_attr("IFLA_MTU")),
                             up=bool(link["flags"] & IFF_UP), carrier=link.get_attr("IFLA_CARRIER") == 1,
                             kind=kind, addresses=addresses, routes=routes)


def check_cables(cables: list[tuple[str, str]], source: str) -> list[HostInterface]:
    """Every (field, interface) of a lab file: it exists in the root namespace and the host does
    not use it. One error lists every problem."""
    problems, found = [], []
    for field, name in cables:
        iface = inspect(name)
        if iface is None:
            problems.append(f"{field}: no interface {name!r} on this host (is the cable's NIC there, under that name? `ip link`)")
        elif iface.used_by_host:
            what = ", ".join([f"{a}/{p}" for a, p in iface.addresses] + [f"route {r}" for r in iface.routes])
            problems.append(f"{field}: interface {name!r} is the host's own ({what}); the bench would cut the host off "
                            "by taking it")
        else:
            found.append(iface)
    if problems:
        raise HostError("the lab file's cables cannot be used:\n  " + "\n  ".join(problems), where=source,
                        fix="name interfaces cabled to the DUT (and real terminals) only, with no address or route of the host's")
    return found


def move_in(iface: HostInterface, ns: str, inside: str) -> None:
    """Take the interface into namespace `ns` as `inside`, up (it must be in the ledger already)."""
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=iface.name)
        if not index:
            raise HostError(f"interface {iface.name!r} disappeared before the lab could take it")
        ipr.link("set", index=index[0], state="down")
        ipr.link("set", index=index[0], net_ns_fd=ns)
    with netns.ipr(ns) as ipr:
        index = ipr.link_lookup(ifname=iface.name)[0]
        if inside != iface.name:
            ipr.link("set", index=index, ifname=inside)
        ipr.link("set", index=index, state="up")


def _find(ipr: Any, record: dict[str, Any], inside: str | None) -> int | None:
    """The interface's index in a namespace: by MAC first (a rename cannot hide it), then by name."""
    for link in ipr.get_links():
        if record["mac"] and link.get_attr("IFLA_ADDRESS") == record["mac"] and _ifname(link) in (inside, record["name"]):
            return int(link["index"])
    for name in (inside, record["name"]):
        if name:
            found = ipr.link_lookup(ifname=name)
            if found:
                return int(found[0])
    return None


def restore(entry: dict[str, Any]) -> str:
    """Hand an interface back as its ledger entry recorded it; returns what was done. Raises
    HostError when it cannot be found anywhere (a veth whose other end was removed with it)."""
    record, ns, inside = entry["interface"], entry.get("namespace"), entry.get("inside")
    if ns and netns.exists(ns):
        with netns.ipr(ns) as ipr:
            index = _find(ipr, record, inside)
            if index is not None:
                ipr.link("set", index=index, state="down")
                ipr.link("set", index=index, net_ns_fd=ROOT_NS)
    with IPRoute() as ipr:
        index = _find(ipr, record, inside)
        if index is None:
            raise HostError(f"host interface {record['name']} is gone: it could not be handed back",
                            where=f"namespace {ns}" if ns else "the host", fix="check `ip link`; a veth dies with its other end")
        if _ifname(ipr.get_links(index)[0]) != record["name"]:
            ipr.link("set", index=index, state="down")
            ipr.link("set", index=index, ifname=record["name"])
        ipr.link("set", index=index, mtu=record["mtu"])
        present = {(str(a.get_attr("IFA_ADDRESS")), int(a["prefixlen"])) for a in ipr.get_addr(index=index)}
        for address, prefix in record["addresses"]:
            if (address, prefix) not in present:
                ipr.addr("add", index=index, address=address, prefixlen=prefix)
        ipr.link("set", index=index, state="up" if record["up"] else "down")
    return f"host interface {record['name']} handed back"

