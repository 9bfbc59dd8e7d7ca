"""Nightly: passenger goodput through the DUT against the emulated link rate, per WAN (THR-1
downlink, THR-2 uplink), and the DUT's NAT and shaping overhead as a ratio to the link alone.

Every WAN's sky link is set to the catalogue's rate: 150 Mbit/s down, 20 Mbit/s up, 30 ms round
trip, no loss. Each WAN is made the passengers' active one in turn the way a train does it, by
an outage of every more preferred WAN (the DUT's own failover picks the next; the bench waits
until the passenger's new flows leave by it, seen at the ground). A whole-trip passenger (DHCP
lease, the DUT profile's unlimited package: no portal cap applies) runs iperf3 with several TCP
flows to the ground, downlink then uplink; the first seconds (slow start) are left out; the
passenger's path is checked again after the measurement.

The same iperf3 runs from the WAN's terminal namespace (the sky link alone, no DUT) in the same
test: `dut_vs_link` = goodput through the DUT / goodput over the link alone is the DUT's overhead
(recorded in each measurement's context and printed). The requirement is judged on goodput over
the emulated rate, as the catalogue's method says; TCP payload can be at most 1448/1514 = 95.6 %
of a link rate counted in Ethernet frames, so 95 % leaves the DUT 0.6 points.

The reference router holds each WAN's uplink to `wans.<name>.uplink_kbit` (router.yaml: oneweb
50, starlink 20, lte 20 Mbit/s): on starlink and lte that cap equals the emulated 20 Mbit/s, so
THR-2 there measures the router's HTB and the link together, as deployed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.devices.protocols import OnboardRouter
from bench.lab import addressing
from bench.lab.lab import Lab
from bench.link.probe import TCP_PAYLOAD_SHARE
from bench.procedures.failover import FAILOVER_WAIT_S
from bench.procedures.steady import path_of, settle, wait_for_path
from bench.traffic.iperf import IperfServers, iperf_client
from bench.traffic.links import links_set, outages, profile
from bench.traffic.passenger import Passenger

pytestmark = [pytest.mark.nightly, pytest.mark.lab]

DOWN_BPS = 150_000_000
UP_BPS = 20_000_000
RTT_MS = 30.0
SECONDS = 6.0  # measured, after OMIT_S of slow start
OMIT_S = 2.0
STREAMS = 4  # "several TCP flows"
GROUND = str(addressing.GROUND_SERVER.ip)


@pytest.fixture(scope="module")
def shaped(lab: Lab, dut: OnboardRouter, traveller: Passenger) -> Iterator[None]:
    with links_set(lab, lab.wan_order(), profile(DOWN_BPS, UP_BPS, RTT_MS)):
        yield
    settle(lab, dut, traveller.ns)  # later modules start from the steady state


@pytest.fixture(scope="module")
def servers(lab: Lab, shaped: None) -> Iterator[IperfServers]:
    with IperfServers(lab, GROUND, count=2) as s:
        yield s


@pytest.mark.requirement("THR-1", "THR-2")
@pytest.mark.parametrize("wan", ["oneweb", "starlink", "lte"])
def test_goodput_through_each_wan(lab: Lab, measure, servers: IperfServers, traveller: Passenger, wan: str) -> None:
    order = lab.wan_order()
    if wan not in order:
        pytest.skip(f"the lab has no WAN {wan} ({order})")
    before = order[: order.index(wan)]
    term = lab.ns(f"term-{wan}")
    with outages(lab, before):
        wait_for_path(lab, traveller.ns, wan, FAILOVER_WAIT_S)
        results = {}
        for direction, reverse, rate in (("downlink", True, DOWN_BPS), ("uplink", False, UP_BPS)):
            dut = iperf_client(lab, traveller.ns, servers.ports[0], GROUND, seconds=SECONDS, omit_s=OMIT_S, streams=STREAMS, reverse=reverse)
            alone = iperf_client(lab, term, servers.ports[1], GROUND, seconds=SECONDS, omit_s=OMIT_S, streams=STREAMS, reverse=reverse)
            results[direction] = (dut, alone, rate)
        still = path_of(lab, traveller.ns)
    for direction, (dut, alone, rate) in results.items():
        # The bench itself: the flows went by the WAN under test, and the link alone carried close
        # to its rate, or a verdict would be about the emulator, not the DUT (generous: 85 % of the
        # rate, on a shared 2-core machine).
        preconditions = {f"the passenger's new flows still left by {wan} (they left by {still})": still == wan,
                         f"the sky link alone carried >= 85 % of its rate ({alone.goodput_bps / rate:.1%})": alone.goodput_bps >= 0.85 * rate}
        req = "THR-1" if direction == "downlink" else "THR-2"
        ratio = dut.goodput_bps / alone.goodput_bps
        print(f"{wan} {direction}: through the DUT {dut.goodput_bps / 1e6:.2f} Mbit/s ({dut.goodput_bps / rate:.1%} of the "
              f"emulated {rate / 1e6:.0f} Mbit/s), link alone {alone.goodput_bps / 1e6:.2f} Mbit/s ({alone.goodput_bps / rate:.1%}); "
              f"DUT/link {ratio:.3f}; retransmits {dut.retransmits} vs {alone.retransmits}")
        # Against the best a TCP flow can carry over the link (its rate times the payload share of
        # a full frame), so 100 % means the DUT costs nothing and the frame overhead is not blamed on it.
        best = rate * TCP_PAYLOAD_SHARE
        measure(req, dut.goodput_bps / best * 100, units="%", wan=wan, direction=direction,
                link_rate_mbps=rate / 1e6, best_possible_mbps=round(best / 1e6, 3), rtt_ms=RTT_MS, goodput_mbps=round(dut.goodput_bps / 1e6, 3),
                link_alone_mbps=round(alone.goodput_bps / 1e6, 3), dut_vs_link=round(ratio, 4),
                streams=STREAMS, seconds=SECONDS, retransmits=dut.retransmits, preconditions=preconditions)
