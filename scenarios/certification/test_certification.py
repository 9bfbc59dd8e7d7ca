"""Certification: the plan's requirements (plan.yaml) measured on its fixed trace windows.

- THR-1/THR-2 on 60 s of a real Starlink dish recording (FjordLink, delay as recorded, rate
  150/20 Mbit/s) driving the passengers' active WAN: a whole-trip passenger's iperf3 goodput
  through the DUT against the rate the trace gave the link over the same seconds.
- FO-1 on a synthetic Astana-Almaty window (km 263): the replay cuts the active satellite for
  12.6 s; the DUT's declared detection (its event log) and the passenger's switch (first new
  flow answered after the cut) are measured at the trace's outage.

Each test runs `--count N` times (pytest-repeat) on the same lab; `skybench certify` turns the measurements
into the signed record. The measuring itself is bench/replay_checks.py (shared with repro).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bench.certification.plan import CertificationPlan, check_trace_file
from bench.devices.reference.passenger import Passenger
from bench.devices.reference.router import ReferenceRouter
from bench.lab import addressing
from bench.lab.lab import Lab
from bench.replay_checks import failover_at, goodput_during, links_kept
from bench.traffic import wanstate
from bench.traffic.iperf import IperfServers
from bench.traffic.probes import PassengerProbe

pytestmark = [pytest.mark.certification, pytest.mark.lab]

GROUND = str(addressing.GROUND_SERVER.ip)
SECONDS = 8.0
OMIT_S = 2.0
STREAMS = 4


@pytest.fixture(scope="module")
def servers(lab: Lab, router: ReferenceRouter) -> Iterator[IperfServers]:
    with IperfServers(lab, GROUND, count=2) as s:
        yield s


def _play(replay, plan: CertificationPlan, requirement: str, **kwargs):  # type: ignore[no-untyped-def]
    name = plan.requirement(requirement).trace
    assert name is not None
    spec = plan.traces[name]
    path = check_trace_file(plan, name)  # the bytes the plan names, checked again right before playing
    return spec, replay.play(path, speed=spec.speed, links=dict(spec.links), name=name, **kwargs)


@pytest.mark.requirement("THR-1", "THR-2")
def test_goodput_on_recorded_starlink(lab: Lab, router: ReferenceRouter, replay, measure, plan: CertificationPlan,
                                      servers: IperfServers, traveller: Passenger, repeat: int) -> None:
    wanstate.settle(router)
    active = wanstate.preferred(router)[0]
    with links_kept(lab):
        spec, playing = _play(replay, plan, "THR-1", loop=True)
        trace_link = next(link for link, wan in spec.links.items() if wan == active)
        try:
            # one server per direction: a server still closing the last test resets a new client's control connection
            samples = [goodput_during(lab, playing, trace_link, traveller.ns, servers.ports[port], GROUND, downlink=down,
                                      seconds=SECONDS, omit_s=OMIT_S, streams=STREAMS) for port, down in ((0, True), (1, False))]
            still = router.status()["active"]["passengers"]
        finally:
            replay.stop()
    assert still == active, f"the passengers' WAN changed to {still} during the measurement"
    measure.on_trace(playing.plan.name, spec.content_sha256)  # the replay has stopped: name the trace measured on
    for s, req in zip(samples, ("THR-1", "THR-2")):
        print(f"repeat {repeat} {s.direction}: {s.goodput_bps / 1e6:.2f} Mbit/s through the DUT, trace rate "
              f"{s.emulated_bps / 1e6:.2f} Mbit/s: {s.ratio_percent:.1f} %")
        measure(req, s.ratio_percent, units="%", trace_time_s=round(s.trace_t0, 3),
                km=None if s.km is None else round(s.km, 3), repeat=repeat, wan=active, direction=s.direction,
                goodput_mbps=round(s.goodput_bps / 1e6, 3), trace_rate_mbps=round(s.emulated_bps / 1e6, 3),
                retransmits=s.retransmits, streams=STREAMS, seconds=SECONDS)


@pytest.mark.requirement("FO-1")
def test_failover_at_trace_outage(lab: Lab, router: ReferenceRouter, replay, measure, plan: CertificationPlan,
                                  traveller: Passenger, repeat: int) -> None:
    wanstate.settle(router)
    active = wanstate.preferred(router)[0]
    with links_kept(lab), PassengerProbe(traveller.ns, GROUND) as probe:
        time.sleep(1.0)
        assert probe.answered_between("new", time.time() - 1.0, time.time()) > 0, "the passenger probe got no answers before the replay"
        spec, playing = _play(replay, plan, "FO-1")
        trace_link = next(link for link, wan in spec.links.items() if wan == active)
        try:
            span = playing.wait_for_next_outage(trace_link, timeout=spec.speed and 120.0)
            sample = failover_at(router, playing, probe, span, active)
        finally:
            replay.stop()
    print(f"repeat {repeat}: {active} out at trace {span.start_t:.1f} s ({span.length_s:.1f} s, km {sample.km}); "
          f"declared down after {sample.detection_s} s; new flows answered after {sample.switch_s:.2f} s via {sample.via_wan}; "
          f"call's longest gap {sample.call_longest_gap_s:.2f} s")
    measure.on_trace(playing.plan.name, spec.content_sha256)
    where = {"trace_time_s": round(span.start_t, 3), "km": None if sample.km is None else round(sample.km, 3)}
    if sample.detection_s is not None:
        measure("FO-1", sample.detection_s, units="s", quantity="detection", repeat=repeat, **where, **sample.context())
    measure("FO-1", sample.switch_s, units="s", quantity="switch", repeat=repeat, **where, **sample.context())
