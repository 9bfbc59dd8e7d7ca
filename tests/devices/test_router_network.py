"""The reference router's network: per-WAN routing and NAT, DHCP and DNS on the LANs only."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address

import pytest

from bench.devices.reference import ReferenceRouter
from bench.traffic.passenger import Passenger
from bench.errors import BenchError
from bench.lab import addressing, netns
from bench.lab.lab import Lab
from tests.devices.router_helpers import router  # noqa: F401 - fixture

pytestmark = pytest.mark.lab
WHOAMI_PORT = 7070


def whoami(lab: Lab, role: str, dst: str = str(addressing.GROUND_SERVER.ip)) -> str:
    """The source address the ground sees for a new flow from a LAN (after the router's NAT)."""

    def ask() -> str:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(b"whoami", (dst, WHOAMI_PORT))
            return s.recv(256).decode().rsplit(" ", 1)[1]

    return lab.run_in(role, ask)


def test_lans_leave_by_the_active_wan_masqueraded(lab: Lab, router: ReferenceRouter) -> None:
    status = router.wait_for("oneweb active", lambda s: s["active"] == {"passengers": "oneweb", "ops": "oneweb"} and s, 10)
    oneweb = status["wans"]["oneweb"]["address"]
    assert whoami(lab, "passengers") == oneweb
    assert whoami(lab, "ops") == oneweb


def test_ground_has_no_route_to_the_onboard_lans(lab: Lab, router: ReferenceRouter) -> None:
    # Without NAT nothing could come back: the ground knows only the router's WAN ports.
    with netns.ipr(lab.ns("ground")) as ipr:
        dsts = {f"{r.get_attr('RTA_DST')}/{r['dst_len']}" for r in ipr.get_routes(family=2, table=254) if r.get_attr("RTA_DST")}
    assert str(addressing.ONBOARD) not in dsts
    for wan in lab.plan.wans:
        assert str(wan.addresses.router.network) in dsts


def test_each_wan_has_its_table_and_mark(lab: Lab, router: ReferenceRouter) -> None:
    assert router.plan is not None
    with netns.ipr(lab.ns("router")) as ipr:
        rules = {(r.get_attr("FRA_FWMARK"), r.get_attr("FRA_TABLE")) for r in ipr.get_rules(family=2)}
        for wan in router.plan.wans:
            assert (wan.mark, wan.table) in rules
            routes = ipr.get_routes(family=2, table=wan.table)
            assert [r.get_attr("RTA_GATEWAY") for r in routes] == [wan.gateway]
    ruleset = router.nft("list", "table", "ip", "skyrouter")
    for wan in router.plan.wans:
        assert f'oifname "{wan.ifname}" masquerade' in ruleset


def test_a_passenger_gets_a_lease_and_the_lab_names(lab: Lab, router: ReferenceRouter) -> None:
    cfg = router.config.dhcp
    with Passenger(lab, "dhcp") as p:
        lease = p.connect()
        low, high = (int(a) for a in cfg.passenger_pool)
        assert low <= int(IPv4Address(lease.ip)) <= high
        assert (lease.router, lease.dns, lease.mask) == ("198.18.0.1", "198.18.0.1", 21)
        print(f"DHCP lease {lease.ip} in {lease.took_s * 1000:.0f} ms")
        assert {"mac": p.mac, "ip": lease.ip} in [{"mac": c["mac"], "ip": c["ip"]} for c in router.status()["clients"]]
        assert p.resolve("portal.skybench.test") == "198.18.0.1"
        assert p.resolve("pay.skybench.test") == "198.19.0.2"
        assert p.resolve("origin.skybench.test") == "198.19.0.1"
        with pytest.raises(BenchError, match="no address"):
            p.resolve("example.com")  # no upstream resolver: nothing leaves the lab


def test_dns_listens_on_the_lan_ports_only(lab: Lab, router: ReferenceRouter) -> None:
    def udp_listeners() -> set[str]:
        out = set()
        with open("/proc/thread-self/net/udp") as f:
            for line in list(f)[1:]:
                local = line.split()[1]
                addr, port = local.split(":")
                if int(port, 16) == 53:
                    out.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
        return out

    assert lab.run_in("router", udp_listeners) == {"198.18.0.1", "198.18.8.1"}


def test_each_traffic_class_follows_its_own_wan_list(lab: Lab) -> None:
    from tests.devices.router_helpers import TEST_CONFIG, router_with

    split = TEST_CONFIG.override({"traffic_classes": {"passengers": {"wans": ["starlink", "lte"]}, "ops": {"wans": ["oneweb", "starlink"]}}})
    router = router_with(lab, split)
    try:
        status = router.wait_for("classes on their WANs", lambda s: s["active"] == {"passengers": "starlink", "ops": "oneweb"} and s, 10)
        assert whoami(lab, "passengers") == status["wans"]["starlink"]["address"]
        assert whoami(lab, "ops") == status["wans"]["oneweb"]["address"]
    finally:
        router_with(lab, TEST_CONFIG)


def test_status_api_answers_the_ops_lan(lab: Lab, router: ReferenceRouter) -> None:
    import json
    import urllib.request

    def get() -> dict:
        with urllib.request.urlopen("http://198.18.8.1/api/status", timeout=5) as resp:
            return json.loads(resp.read())

    status = lab.run_in("ops", get)
    assert status["version"] == router.config.version
    assert set(status["wans"]) == {w.name for w in lab.plan.wans}
    assert set(status["active"]) == {"passengers", "ops"}
