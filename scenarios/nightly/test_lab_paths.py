"""Nightly: the lab's paths carry traffic (a passenger online through the DUT and the ops LAN to
the ground; each WAN's terminal, sky link and ground gateway on their own).

The first thing a red night must rule out is the bench itself: if a path is broken here, every
later verdict would be about the bench, not the DUT. The WAN paths are checked from each
terminal (the bench's side of the DUT's WAN port), so they say nothing of the DUT.
"""

from __future__ import annotations

import pytest

from bench.lab import addressing
from bench.lab.lab import Lab
from bench.lab.reach import EchoServer, tcp_echo_rtts
from bench.traffic.passenger import Passenger

pytestmark = [pytest.mark.nightly, pytest.mark.lab]


@pytest.fixture(scope="module")
def ground_echo(lab: Lab):
    servers = [EchoServer(lab.ns("ground"), str(addressing.GROUND_SERVER.ip)).start()]
    servers += [EchoServer(lab.ns("ground"), str(w.addresses.probe_target)).start() for w in lab.plan.wans]
    yield servers
    for s in servers:
        s.stop()


def test_a_passenger_online_reaches_ground(lab: Lab, ground_echo: list[EchoServer]) -> None:
    with Passenger(lab, "paths") as p:
        p.go_online()
        rtts = tcp_echo_rtts(p.ns, str(addressing.GROUND_SERVER.ip), count=20)
    assert len(rtts) == 20


def test_ops_lan_reaches_ground(lab: Lab, ground_echo: list[EchoServer]) -> None:
    rtts = tcp_echo_rtts(lab.ns("ops"), str(addressing.GROUND_SERVER.ip), count=20)
    assert len(rtts) == 20


def test_every_wan_path_carries_traffic(lab: Lab, ground_echo: list[EchoServer]) -> None:
    broken = []
    for wan in lab.plan.wans:
        try:
            tcp_echo_rtts(lab.ns(wan.terminal_role), str(wan.addresses.probe_target), count=5,
                          source=str(wan.addresses.terminal_sky.ip))
        except OSError as exc:
            broken.append(f"{wan.name}: {exc}")
    assert not broken, "WAN paths without traffic: " + "; ".join(broken)
