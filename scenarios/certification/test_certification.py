"""Certification: the plan's requirements (plan.yaml) measured on its fixed trace windows.

- THR-1/THR-2 on 60 s of a real Starlink dish recording (FjordLink, delay as recorded, rate
  150/20 Mbit/s) driving the passengers' active WAN: a whole-trip passenger's iperf3 goodput
  through the DUT against the rate the trace gave the link over the same seconds.
- FO-1 on a synthetic Astana-Almaty window (km 263): the replay cuts the active satellite for
  12.6 s; detection (the first new passenger flow through another WAN, seen at the ground) and
  switch (the passenger's call answered again) are measured at the trace's outage, with the
  DUT's own log beside them.

Each test runs `--count N` times (pytest-repeat) on the same lab; `skybench certify` turns the measurements
into the signed record. The measuring itself is bench/procedures/ (shared with the nightly and repro).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bench.certification.plan import CertificationPlan, check_trace_file
from bench.devices.profile import DutProfile
from bench.devices.protocols import OnboardRouter
from bench.lab import addressing
from bench.lab.lab import Lab
from bench.procedures.failover import hear_the_dut, note_dut_state, watch_failover
from bench.procedures.steady import path_of, settle
from bench.procedures.throughput import goodput_during, unix_time_of
from bench.traffic.iperf import IperfServers
from bench.traffic.links import links_kept
from bench.traffic.passenger import Passenger
from bench.traffic.probes import PassengerProbe

pytestmark = [pytest.mark.certification, pytest.mark.lab]

GROUND = str(addressing.GROUND_SERVER.ip)
SECONDS = 8.0
OMIT_S = 2.0
STREAMS = 4


@pytest.fixture(scope="module")
def servers(lab: Lab) -> Iterator[IperfServers]:
    with IperfServers(lab, GROUND, count=2) as s:
        yield s


def _play(replay, plan: CertificationPlan, requirement: str, **kwargs):  # type: ignore[no-untyped-def]
    name = plan.requirement(requirement).trace
    assert name is not None
    spec = plan.traces[name]
    path = check_trace_file(plan, name)  # the bytes the plan names, checked again right before playing
    return spec, replay.play(path, speed=spec.speed, links=dict(spec.links), name=name, **kwargs)


@pytest.mark.requirement("THR-1", "THR-2")
def test_goodput_on_recorded_starlink(lab: Lab, dut: OnboardRouter, replay, measure, plan: CertificationPlan,
                                      servers: IperfServers, traveller: Passenger, repeat: int) -> None:
    active = settle(lab, dut, traveller.ns)
    with links_kept(lab):
        spec, playing = _play(replay, plan, "THR-1", loop=True)
        trace_link = next(link for link, wan in spec.links.items() if wan == active)
        try:
            # one server per direction: a server still closing the last test resets a new client's control connection
            samples = [goodput_during(lab, playing, trace_link, traveller.ns, servers.ports[port], GROUND, downlink=down,
                                      seconds=SECONDS, omit_s=OMIT_S, streams=STREAMS) for port, down in ((0, True), (1, False))]
            still = path_of(lab, traveller.ns)
        finally:
            replay.stop()
    on_path = {f"the passenger's new flows still left by {active} (they left by {still})": still == active}
    measure.on_trace(playing.plan.name, spec.content_sha256)  # the replay has stopped: name the trace measured on
    for s, req in zip(samples, ("THR-1", "THR-2")):
        print(f"repeat {repeat} {s.direction}: {s.goodput_bps / 1e6:.2f} Mbit/s through the DUT, trace rate "
              f"{s.emulated_bps / 1e6:.2f} Mbit/s: {s.ratio_percent:.1f} %")
        measure(req, s.ratio_percent, units="%", trace_time_s=round(s.trace_t0, 3),
                km=None if s.km is None else round(s.km, 3), repeat=repeat, wan=active, direction=s.direction,
                goodput_mbps=round(s.goodput_bps / 1e6, 3), trace_rate_mbps=round(s.emulated_bps / 1e6, 3),
                retransmits=s.retransmits, streams=STREAMS, seconds=SECONDS, preconditions=on_path)


@pytest.mark.requirement("FO-1")
def test_failover_at_trace_outage(lab: Lab, dut: OnboardRouter, profile: DutProfile, replay, measure, plan: CertificationPlan,
                                  traveller: Passenger, repeat: int) -> None:
    active = settle(lab, dut, traveller.ns)
    with links_kept(lab), PassengerProbe(traveller.ns, GROUND, wan_of=lab.wan_at_ground) as probe:
        time.sleep(1.0)
        probe_works = {"the passenger probe was answered in the second before the replay":
                       probe.answered_between("new", time.time() - 1.0, time.time()) > 0}
        spec, playing = _play(replay, plan, "FO-1")
        trace_link = next(link for link, wan in spec.links.items() if wan == active)
        try:
            span = playing.wait_for_next_outage(trace_link, timeout=spec.speed and 120.0)
            seen = watch_failover(lab, probe, lost=[active], t_cut=unix_time_of(playing, span.start_t), active_before=active)
            note_dut_state(seen, dut, profile, lab.wan_order())
        finally:
            replay.stop()
    hear_the_dut(seen, dut, profile, lab.wan_order())
    km = playing.plan.km_at(span.start_t)
    print(f"repeat {repeat}: {active} out at trace {span.start_t:.1f} s ({span.length_s:.1f} s, km {km}): {seen.summary()}")
    measure.on_trace(playing.plan.name, spec.content_sha256)
    where = {"trace_time_s": round(span.start_t, 3), "km": None if km is None else round(km, 3),
             "outage_length_s": round(span.length_s, 3), "preconditions": probe_works}
    measure("FO-1", seen.detection_s, units="s", quantity="detection", repeat=repeat, **where, **seen.context())
    measure("FO-1", seen.switch_s, units="s", quantity="switch", repeat=repeat, **where, **seen.context())
