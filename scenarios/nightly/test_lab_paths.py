"""Nightly: the lab's paths carry traffic (passengers and ops to the ground, each WAN on its own).

The first thing a red night must rule out is the bench itself: if a path is broken here, every
later verdict would be about the bench, not the DUT.
"""

from __future__ import annotations

import pytest

from bench.lab import addressing
from bench.lab.lab import Lab
from bench.lab.reach import EchoServer, tcp_echo_rtts

pytestmark = [pytest.mark.nightly, pytest.mark.lab]


@pytest.fixture(scope="module")
def ground_echo(lab: Lab):
    servers = [EchoServer(lab.ns("ground"), str(addressing.GROUND_SERVER.ip)).start()]
    servers += [EchoServer(lab.ns("ground"), str(w.addresses.probe_target)).start() for w in lab.plan.wans]
    yield servers
    for s in servers:
        s.stop()


@pytest.mark.parametrize("role", ["passengers", "ops"])
def test_onboard_lan_reaches_ground(lab: Lab, ground_echo: list[EchoServer], role: str) -> None:
    rtts = tcp_echo_rtts(lab.ns(role), str(addressing.GROUND_SERVER.ip), count=20)
    assert len(rtts) == 20


def test_every_wan_path_carries_traffic(lab: Lab, ground_echo: list[EchoServer]) -> None:
    broken = []
    for wan in lab.plan.wans:
        try:
            tcp_echo_rtts(lab.ns("router"), str(wan.addresses.probe_target), count=5, source=str(wan.addresses.router.ip))
        except OSError as exc:
            broken.append(f"{wan.name}: {exc}")
    assert not broken, "WAN paths without traffic: " + "; ".join(broken)
