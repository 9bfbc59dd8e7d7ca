"""A minimal three-namespace line for testing and benchmarking a link on its own.

    <prefix>-a (onboard host, 10.77.0.1) ── term [<prefix>-sky] gnd ── <prefix>-b (ground, 10.77.0.2)

Both hosts sit in one /24, so the link namespace is a transparent layer-2 hop. The full lab
(bench/lab/topology.py) builds the real topology; this exists so the link can be verified alone.
Its namespaces are written to a cleanup ledger before they exist, as a lab's are: a testbed whose
process died is removed by `skybench lab clean`, and one whose process lives is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bench.lab import netns
from bench.lab.state import Ledger, new_prefix
from bench.link.offload import disable_offloads

HOST_A_IP = "10.77.0.1"
HOST_B_IP = "10.77.0.2"


@dataclass(frozen=True)
class Testbed:
    __test__ = False  # not a pytest test class despite the name

    prefix: str
    host_a: str  # onboard side: its traffic to B is uplink
    sky: str
    host_b: str  # ground side
    term_if: str = "term"
    gnd_if: str = "gnd"
    host_a_if: str = "eth0"
    host_b_if: str = "eth0"
    host_a_ip: str = HOST_A_IP
    host_b_ip: str = HOST_B_IP


def _build(bed: Testbed, ledger: Ledger) -> None:
    for name, role in ((bed.host_a, "a"), (bed.sky, "sky"), (bed.host_b, "b")):
        ledger.record("netns", name=name, role=role)
        netns.create(name)
    with netns.ipr(bed.sky) as sky:
        for local, remote_ns in ((bed.term_if, bed.host_a), (bed.gnd_if, bed.host_b)):
            sky.link("add", ifname=local, kind="veth", peer={"ifname": "eth0", "net_ns_fd": remote_ns})
            index = sky.link_lookup(ifname=local)[0]
            sky.link("set", index=index, state="up")
        sky.link("set", index=sky.link_lookup(ifname="lo")[0], state="up")
    for name in (bed.term_if, bed.gnd_if):
        netns.sysctl(bed.sky, f"net.ipv6.conf.{name}.disable_ipv6", 1)
    for host, ip in ((bed.host_a, bed.host_a_ip), (bed.host_b, bed.host_b_ip)):
        with netns.ipr(host) as ipr:
            index = ipr.link_lookup(ifname="eth0")[0]
            ipr.addr("add", index=index, address=ip, prefixlen=24)
            ipr.link("set", index=index, state="up")
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        netns.sysctl(host, "net.ipv6.conf.all.disable_ipv6", 1)
        # 1500-byte frames on the wire, checksums done in software: what a userspace bridge needs
        # and what real Ethernet between two boxes looks like.
        disable_offloads(host, "eth0")
        # Room for a 1 Gbit/s x 40 ms window (the benchmark's shaped case).
        netns.sysctl(host, "net.ipv4.tcp_rmem", "4096 131072 33554432")
        netns.sysctl(host, "net.ipv4.tcp_wmem", "4096 65536 33554432")
    # Static neighbours: no ARP on the link, so impairments act on the measured traffic only.
    macs = {}
    for host in (bed.host_a, bed.host_b):
        with netns.ipr(host) as ipr:
            macs[host] = ipr.link("get", index=ipr.link_lookup(ifname="eth0")[0])[0].get_attr("IFLA_ADDRESS")
    for host, peer, peer_ip in ((bed.host_a, bed.host_b, bed.host_b_ip), (bed.host_b, bed.host_a, bed.host_a_ip)):
        with netns.ipr(host) as ipr:
            ipr.neigh("add", dst=peer_ip, lladdr=macs[peer], ifindex=ipr.link_lookup(ifname="eth0")[0],
                      state="permanent")


@contextmanager
def testbed(prefix: str | None = None) -> Iterator[Testbed]:
    """Build the three namespaces; remove them (and every process inside) on exit."""
    prefix = prefix or new_prefix()
    bed = Testbed(prefix=prefix, host_a=f"{prefix}-a", sky=f"{prefix}-sky", host_b=f"{prefix}-b")
    ledger = Ledger(prefix=prefix, meta={"name": "link testbed", "kind": "link testbed"})
    ledger.save()
    try:
        _build(bed, ledger)
        yield bed
    finally:
        ledger.teardown()
