from __future__ import annotations

from ipaddress import IPv4Network

from bench.lab import addressing
from bench.lab.topology import WanPath, plan_topology


def _plan(n: int):
    wans = [WanPath(f"w{i}", "satellite", "other", i + 1, "auto", addressing.wan_addresses(i)) for i in range(n)]
    return plan_topology("sb000000", wans)


def test_every_address_lies_in_the_benchmarking_block() -> None:
    plan = _plan(addressing.MAX_WANS)
    for wire in plan.wires:
        for end in (wire.a, wire.b):
            if end.address is not None:
                assert end.address.ip in addressing.LAB_BLOCK, end
    for addr in plan.ground_addresses:
        assert addr.ip in addressing.LAB_BLOCK


def test_subnets_do_not_overlap() -> None:
    nets = [addressing.PASSENGER_LAN, addressing.OPS_LAN, addressing.INTERNET]
    for i in range(addressing.MAX_WANS):
        ad = addressing.wan_addresses(i)
        nets += [ad.router.network, ad.gateway.network]
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            assert not a.overlaps(b), (a, b)


def test_names_fit_linux_limits_and_carry_the_prefix() -> None:
    plan = _plan(addressing.MAX_WANS)
    for role in plan.roles:
        assert plan.ns(role).startswith("sb000000-")
    for wire in plan.wires:
        for end in (wire.a, wire.b):
            assert len(end.ifname) <= 15, end.ifname


def test_wan_index_outside_the_plan_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="holds 8 WANs"):
        addressing.wan_addresses(8)


def test_primary_wan_carries_the_default_route() -> None:
    plan = _plan(3)
    default = [r for r in plan.routes if r.role == "router" and r.dst == "default"]
    assert [r.via for r in default] == [str(addressing.wan_addresses(0).terminal_lan.ip)]
    assert IPv4Network("198.18.0.0/20") == addressing.ONBOARD
