"""Clients on the train's LANs: each its own macvlan (own MAC) in the lab's passengers (or ops)
namespace, its own address from a DHCP lease the DUT gives, and its own routing table so that
whatever a client sends leaves by its own interface, with its own MAC.

    clients = attach_clients(lab, "passengers", "wifi0", 500, kind="passenger")
    ...
    detach_clients(lab, clients)

Leases come from the reference router's DHCP client code (busybox udhcpc, real DHCP exchanges
with the DUT), several at once. Every client's address is added without a prefix route and
gets a rule `from <ip> lookup <table>` whose table routes the LAN and the default gateway
through that client's own interface: sockets bound to the client's address use its interface.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from bench.traffic.passenger import dhcp_lease
from bench.errors import BenchError
from bench.lab import netns
from bench.steps import step

if TYPE_CHECKING:
    from bench.lab.lab import Lab

Kind = Literal["passenger", "ops"]
IFA_F_NOPREFIXROUTE = 0x200
NUD_PERMANENT = 0x80
TABLE_BASE = {"passenger": 10_000, "ops": 20_000}
RULE_PRIORITY_BASE = {"passenger": 10_000, "ops": 20_000}
DHCP_PARALLEL = 24


class LanClient(BaseModel):
    """One client device as the load generator sees it (written to the Locust process as JSON)."""

    model_config = ConfigDict(frozen=True)

    name: str  # "passenger 0042", "ops 0003"
    kind: Kind
    namespace: str
    ifname: str
    mac: str
    ip: str
    prefixlen: int
    router: str
    dns: str
    table: int
    lease_s: float  # how long the DHCP exchange took


def _mac() -> str:
    return "02:5c:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(4))


def _gateway_mac(ns: str, client: LanClient) -> str | None:
    """The gateway's MAC as one client's interface resolves it (one ARP exchange, from the
    client's own address: the namespace itself may have no route at all)."""
    gateway = client.router

    def poke() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((client.ip, 0))
            s.sendto(b"", (gateway, 9))

    netns.run_in(ns, poke)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        with netns.ipr(ns) as ipr:
            for n in ipr.get_neighbours(dst=gateway):
                mac = n.get_attr("NDA_LLADDR")
                if mac and n["state"] not in (0x20, 0x01):  # not FAILED, not INCOMPLETE
                    return mac
        time.sleep(0.05)
    return None


def attach_clients(lab: Lab, role: str, lower: str, count: int, *, kind: Kind, first: int = 0,
                   dhcp_timeout_s: float = 20.0, dhcp_tries: int = 5) -> list[LanClient]:
    """`count` clients with leases on the LAN of `lower` in the namespace of `role`; on any
    failure the ones already made are removed and the error names the client."""
    ns = lab.ns(role)
    made: list[tuple[str, str, str]] = []  # (name, ifname, mac)
    clients: list[LanClient] = []
    try:
        with step("attach clients", role=role, kind=kind, count=count):
            for key, value in (("arp_ignore", 1), ("arp_announce", 2), ("rp_filter", 0)):
                for scope in ("all", "default"):
                    netns.sysctl(ns, f"net.ipv4.conf.{scope}.{key}", value)
            with netns.ipr(ns) as ipr:
                lower_idx = ipr.link_lookup(ifname=lower)
                if not lower_idx:
                    raise BenchError(f"no interface {lower} to attach {kind} clients to", where=f"namespace {ns}")
                for i in range(first, first + count):
                    ifname, mac = f"{kind[0]}{i:04d}", _mac()
                    ipr.link("add", ifname=ifname, kind="macvlan", link=lower_idx[0], macvlan_mode="bridge", address=mac)
                    made.append((f"{kind} {i:04d}", ifname, mac))
                    ipr.link("set", index=ipr.link_lookup(ifname=ifname)[0], state="up")
            leases = _leases(lab, ns, made, kind, dhcp_timeout_s, dhcp_tries)
            with netns.ipr(ns) as ipr:
                for i, ((name, ifname, mac), (lease_name, lease)) in enumerate(zip(made, leases)):
                    assert name == lease_name
                    idx = ipr.link_lookup(ifname=ifname)[0]
                    table = TABLE_BASE[kind] + first + i
                    ipr.addr("add", index=idx, address=lease.ip, prefixlen=lease.mask, IFA_FLAGS=IFA_F_NOPREFIXROUTE)
                    network = str(ipaddress.IPv4Network(f"{lease.router}/{lease.mask}", strict=False))
                    ipr.route("add", dst=network, oif=idx, table=table, scope=253)
                    ipr.route("add", dst="0.0.0.0/0", gateway=lease.router, oif=idx, table=table)
                    ipr.rule("add", table=table, priority=RULE_PRIORITY_BASE[kind] + first + i, src=lease.ip, src_len=32)
                    clients.append(LanClient(name=name, kind=kind, namespace=ns, ifname=ifname, mac=mac, ip=lease.ip,
                                             prefixlen=lease.mask, router=lease.router, dns=lease.dns, table=table,
                                             lease_s=lease.took_s))
            gw_mac = _gateway_mac(ns, clients[0])
            if gw_mac:
                # A static entry for the gateway on every client: the kernel's neighbour table is
                # shared by every namespace on the host (gc_thresh3, 1024 here) and the router's
                # own entries for each client already fill it; permanent entries do not count.
                with netns.ipr(ns) as ipr:
                    for client in clients:
                        idx = ipr.link_lookup(ifname=client.ifname)[0]
                        ipr.neigh("replace", dst=client.router, lladdr=gw_mac, ifindex=idx, state=NUD_PERMANENT)
    except BaseException:
        _remove(ns, kind, [ifname for _, ifname, _ in made], first, len(made))
        raise
    return clients


def _leases(lab: Lab, ns: str, made: list[tuple[str, str, str]], kind: Kind, timeout_s: float, tries: int) -> list[tuple[str, object]]:
    lock = threading.Lock()
    errors: list[BenchError] = []

    def one(item: tuple[str, str, str]) -> tuple[str, object]:
        name, ifname, mac = item
        who = f"{name} ({mac}, {ifname} in {ns})"
        try:
            return name, dhcp_lease(lab, ns, ifname, who, timeout_s, tries=tries)
        except BenchError:
            # Leases requested at the same moment can be offered the same address; the loser
            # gets a NAK and, from dnsmasq, the same offer again. One more try, alone.
            with lock:
                try:
                    return name, dhcp_lease(lab, ns, ifname, who, timeout_s, tries=tries)
                except BenchError as exc:
                    errors.append(exc)
                    raise

    with ThreadPoolExecutor(max_workers=DHCP_PARALLEL) as pool:
        futures = [pool.submit(one, item) for item in made]
        results = []
        for f in futures:
            try:
                results.append(f.result())
            except BenchError:
                pool.shutdown(cancel_futures=True)
                break
    if errors:
        first = errors[0]
        raise BenchError(f"{first.what} ({len(errors)} of {len(made)} {kind} clients got no lease)",
                         where=first.where, fix="the DUT must hand every client a lease: is its DHCP server up, is its pool big enough "
                         "for this many clients (the passenger LAN is a /21)?")
    return results


def detach_clients(lab: Lab, clients: list[LanClient]) -> None:
    """Remove the clients' interfaces, rules and tables (the DUT's leases simply expire)."""
    by_ns: dict[tuple[str, str], list[LanClient]] = {}
    for c in clients:
        by_ns.setdefault((c.namespace, c.kind), []).append(c)
    with step("detach clients", count=len(clients)):
        for (ns, kind), group in by_ns.items():
            if not netns.exists(ns):
                continue
            with netns.ipr(ns) as ipr:
                for c in group:
                    try:
                        ipr.rule("del", table=c.table, priority=RULE_PRIORITY_BASE[kind] + c.table - TABLE_BASE[kind], src=c.ip, src_len=32)
                    except Exception:  # noqa: BLE001 - already gone
                        pass
                    for idx in ipr.link_lookup(ifname=c.ifname):
                        ipr.link("del", index=idx)


def _remove(ns: str, kind: Kind, ifnames: list[str], first: int, count: int) -> None:
    if not netns.exists(ns):
        return
    with netns.ipr(ns) as ipr:
        for i in range(first, first + count):
            try:
                ipr.rule("del", table=TABLE_BASE[kind] + i, priority=RULE_PRIORITY_BASE[kind] + i)
            except Exception:  # noqa: BLE001 - not made yet
                pass
        for ifname in ifnames:
            for idx in ipr.link_lookup(ifname=ifname):
                ipr.link("del", index=idx)
