"""Nightly: each WAN's emulated sky link acts as set (delay, outage) on the lab's real paths.

If the link emulator does not do what a trace tells it, no verdict downstream means anything, so
the nightly checks it on the same paths the DUT uses (from each terminal, the bench's side of the
DUT's WAN port, to that WAN's probe target on the ground), with the probes a field engineer would.
"""

from __future__ import annotations

import statistics

import pytest

from bench.lab.lab import Lab
from bench.lab.reach import EchoServer, udp_echo_rtts

pytestmark = [pytest.mark.nightly, pytest.mark.lab]


@pytest.fixture(scope="module")
def probe_echo(lab: Lab):
    servers = [EchoServer(lab.ns("ground"), str(w.addresses.probe_target), port=7008).start() for w in lab.plan.wans]
    yield
    for s in servers:
        s.stop()


def _rtts(lab: Lab, wan_name: str, count: int = 30) -> list[float | None]:
    wan = next(w for w in lab.plan.wans if w.name == wan_name)
    return udp_echo_rtts(lab.ns(wan.terminal_role), str(wan.addresses.probe_target), 7008, count=count,
                         source=str(wan.addresses.terminal_sky.ip))


@pytest.mark.parametrize("wan", ["oneweb", "starlink", "lte"])
def test_delay_and_outage_act_on_the_wan_path(lab: Lab, probe_echo: None, wan: str) -> None:
    link = lab.link(wan)
    try:
        link.set_direction("uplink", delay="15ms")
        link.set_direction("downlink", delay="25ms")
        rtts = [r for r in _rtts(lab, wan) if r is not None]
        assert len(rtts) >= 28, f"{wan}: {30 - len(rtts)} of 30 probes lost on an unimpaired-loss link"
        median_ms = statistics.median(rtts) * 1000
        # 15 ms up + 25 ms down; the lab's own forwarding adds well under a few milliseconds.
        assert 40.0 <= median_ms < 46.0, f"{wan}: median RTT {median_ms:.1f} ms, set 40 ms"

        before = link.counters()
        link.outage(True)
        lost = _rtts(lab, wan, count=10)
        assert all(r is None for r in lost), f"{wan}: probes crossed a link in outage"
        after = link.counters()
        assert after.uplink.dropped_outage - before.uplink.dropped_outage >= 10
    finally:
        link.outage(False)
        link.set_direction("uplink", delay="0ms")
        link.set_direction("downlink", delay="0ms")
    assert sum(r is not None for r in _rtts(lab, wan, count=10)) >= 9, f"{wan}: the path did not come back after the outage"
