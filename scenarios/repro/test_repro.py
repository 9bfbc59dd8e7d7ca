"""Repro checks: each replays the window (`window` fixture) on the lab once its passenger is ready
and measures a requirement where the trace says something happens. The measurements carry the
trace time and km of what they measured, so a failure says where in the recording it was.

- FO-1 (test_failover_in_window): at every outage of the trace link driving the passengers'
  active WAN, what the passenger saw (bench/procedures/failover.py): detection, the first new flow
  through another WAN; switch, its call answered again through another WAN. An outage shorter than
  FO-1's detection limit + 1 s may rightly be ridden through: unless traffic moved elsewhere, only
  the switch is measured, as how long the passenger's flows went unanswered on any WAN;
  FO-2 in the same test: after each outage that moved the passengers' traffic, the time until new
  flows go through that WAN again and the switches back to it in the recovery window (more than
  one is flapping);
- FO-3 (test_dead_zone_in_window): the lab WANs no trace link drives are cut for the window, so
  where every driven link is out at once the train is in a dead zone; at each one's end, the time
  until a passenger's HTTP request to the ground succeeds again;
- OPS-1 (test_ops_in_window, with OPS-2 and OPS-3): four passengers saturate the active WAN both
  ways while the ops LAN runs for most of the window (bench/traffic/saturation.py, as the nightly
  does on its fixed profile); measured at the middle of that span, with the rates the trace gave;
- THR-1 (test_goodput_in_window): iperf3 downlink goodput through the DUT, back to back for the
  whole window, against the rate the trace gave the active WAN's link over the same seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.devices.profile import DutProfile
from bench.devices.protocols import OnboardRouter
from bench.lab import addressing
from bench.lab.lab import Lab
from bench.procedures.failover import hear_the_dut, note_dut_state, watch_failback, watch_failover, watch_restore
from bench.procedures.steady import settle
from bench.procedures.throughput import dead_zones, emulated_rate_bps, goodput_during, unix_time_of
from bench.traces.replay import fmt_trace_time, map_links
from bench.traffic.iperf import IperfServers
from bench.traffic.links import links_kept, outages
from bench.traffic.passenger import Passenger
from bench.traffic.probes import PassengerProbe, RequestLoop
from bench.traffic.saturation import ops_under_passenger_load
from scenarios.repro.conftest import Window

pytestmark = [pytest.mark.repro, pytest.mark.lab]

GROUND = str(addressing.GROUND_SERVER.ip)
SECONDS = 6.0
OMIT_S = 2.0
OPS_WARMUP_S = 3.0
OPS_MIN_S = 10.0


def _active_link(replay, lab: Lab, window: Window) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    active = lab.wan_order()[0]
    wans = map_links(replay.plan.links, lab.wan_order(), window.links, ignore_unmapped=True)
    link = next((link for link, wan in wans.items() if wan == active), None)
    if link is None:
        pytest.skip(f"no trace link drives the passengers' active WAN {active} (trace links {replay.plan.links}); "
                    f"map one with --map LINK={active}")
    return link, active


# FO-2 is measured too where the window shows the WAN come back; only FO-1 is declared, since a
# window that ends before the return (or an outage ridden through) rightly has no FO-2 to measure.
@pytest.mark.requirement("FO-1")
def test_failover_in_window(lab: Lab, dut: OnboardRouter, profile: DutProfile, replay, measure, window: Window,
                            traveller: Passenger) -> None:
    settle(lab, dut, traveller.ns)
    _, detection_limit = measure.catalogue.quantity("FO-1", "detection")
    must_move_s = (detection_limit.limit.high or 0.0) + 1.0  # an outage this long must move traffic
    with links_kept(lab), PassengerProbe(traveller.ns, GROUND, wan_of=lab.wan_at_ground) as probe:
        time.sleep(1.0)
        playing = replay.play(window.trace, speed=window.speed, from_=window.from_s, to=window.to_s, links=window.links, name=Path(window.trace).name)
        measure.on_trace(playing.plan.name, playing.plan.trace.meta.content_sha256)
        try:
            link, active = _active_link(replay, lab, window)
            spans = [o for o in playing.plan.outages() if o.link == link]
            if not spans:
                pytest.skip(f"no outage of trace link {link} (driving {active}) in the window "
                            f"{fmt_trace_time(playing.plan.t0)}-{fmt_trace_time(playing.plan.t1)}")
            for expected in spans:
                if playing.trace_time() >= expected.start_t:
                    print(f"{link} out at {fmt_trace_time(expected.start_t)}: began while the previous outage was measured")
                    continue
                span = playing.wait_for_next_outage(link, timeout=playing.plan.wall_s + 5)
                t_cut = unix_time_of(playing, span.start_t)
                short = span.length_s / playing.plan.speed < must_move_s
                # A short outage may rightly be ridden through: then what passengers saw is how long
                # their flows went unanswered (on any WAN); a longer one must move them elsewhere.
                seen = watch_failover(lab, probe, lost=[] if short else [active], t_cut=t_cut, active_before=active)
                note_dut_state(seen, dut, profile, lab.wan_order())
                hear_the_dut(seen, dut, profile, lab.wan_order())
                km = playing.plan.km_at(span.start_t)
                print(f"{link} out at {fmt_trace_time(span.start_t)} ({span.length_s:.1f} s): {seen.summary()}")
                where = {"trace_time_s": round(span.start_t, 3), "km": None if km is None else round(km, 3),
                         "outage_length_s": round(span.length_s, 3), "short_outage": short}
                moved_elsewhere = seen.to_wan not in (None, active)
                if not short or moved_elsewhere:
                    measure("FO-1", seen.detection_s, units="s", quantity="detection", **where, **seen.context())
                measure("FO-1", seen.switch_s, units="s", quantity="switch", **where, **seen.context())
                if moved_elsewhere and span.end_t < playing.plan.t1:  # traffic left this WAN, and the window shows it back
                    following = next((o for o in spans if o.start_t > span.start_t), None)
                    playing.wait_for_trace_time(span.end_t, timeout=playing.plan.wall_s + 5)
                    back = watch_failback(probe, wan=active, t_up=unix_time_of(playing, span.end_t),
                                          window_ends_by=unix_time_of(playing, following.start_t) if following else None)
                    print(f"{link} back at {fmt_trace_time(span.end_t)}: {back.summary()}")
                    back_km = playing.plan.km_at(span.end_t)
                    back_where = {"trace_time_s": round(span.end_t, 3), "km": None if back_km is None else round(back_km, 3)}
                    measure("FO-2", back.failback_s, units="s", quantity="failback", **back_where, **back.context())
                    measure("FO-2", back.switches, units="count", quantity="switches", **back_where, **back.context())
        finally:
            replay.stop()


@pytest.mark.requirement("THR-1")
def test_goodput_in_window(lab: Lab, dut: OnboardRouter, replay, measure, window: Window, traveller: Passenger) -> None:
    settle(lab, dut, traveller.ns)
    with links_kept(lab), IperfServers(lab, GROUND, count=1) as servers:
        playing = replay.play(window.trace, speed=window.speed, from_=window.from_s, to=window.to_s, links=window.links, name=Path(window.trace).name)
        measure.on_trace(playing.plan.name, playing.plan.trace.meta.content_sha256)
        try:
            link, active = _active_link(replay, lab, window)
            measured = 0
            while playing.trace_time() + (SECONDS + OMIT_S) * playing.plan.speed <= playing.plan.t1:
                s = goodput_during(lab, playing, link, traveller.ns, servers.ports[0], GROUND, downlink=True,
                                   seconds=SECONDS, omit_s=OMIT_S, streams=4)
                if not 0 < s.emulated_bps < float("inf"):
                    continue  # an outage or an unlimited rate: no ratio to judge
                measured += 1
                measure("THR-1", s.ratio_percent, units="%", trace_time_s=round(s.trace_t0, 3),
                        km=None if s.km is None else round(s.km, 3), wan=active, goodput_mbps=round(s.goodput_bps / 1e6, 3),
                        trace_rate_mbps=round(s.emulated_bps / 1e6, 3))
            if not measured:
                pytest.skip("the window is too short for one goodput measurement, or the link was out or unlimited throughout")
        finally:
            replay.stop()


@pytest.mark.requirement("OPS-1", "OPS-2", "OPS-3")
def test_ops_in_window(lab: Lab, dut: OnboardRouter, replay, measure, window: Window, riders: list[Passenger]) -> None:
    settle(lab, dut, riders[0].ns)
    with links_kept(lab):
        playing = replay.play(window.trace, speed=window.speed, from_=window.from_s, to=window.to_s, links=window.links, name=Path(window.trace).name)
        measure.on_trace(playing.plan.name, playing.plan.trace.meta.content_sha256)
        try:
            link, active = _active_link(replay, lab, window)
            ops_s = playing.plan.wall_s - OPS_WARMUP_S - 2
            if ops_s < OPS_MIN_S:
                pytest.skip(f"the window plays for {playing.plan.wall_s:.0f} s: too short for {OPS_MIN_S:.0f} s of ops traffic under load")
            t_a = playing.trace_time()
            r = ops_under_passenger_load(lab, riders, ops_s=ops_s, warmup_s=OPS_WARMUP_S)
            t_b = playing.trace_time()
        finally:
            replay.stop()
    print(r.summary())
    middle = (t_a + t_b) / 2
    km = playing.plan.km_at(middle)
    ctx = {**r.context(), "trace_from_s": round(t_a, 3), "trace_to_s": round(t_b, 3),
           "trace_down_mbps": round(emulated_rate_bps(playing.plan, link, "down", t_a, t_b) / 1e6, 3),
           "trace_up_mbps": round(emulated_rate_bps(playing.plan, link, "up", t_a, t_b) / 1e6, 3)}
    where = {"trace_time_s": round(middle, 3), "km": None if km is None else round(km, 3)}
    measure("OPS-1", r.pos_p95_s, units="s", transactions=r.pos_transactions, failed=r.pos_failed, **where, **ctx)
    measure("OPS-2", r.cctv_loss * 100, units="%", sent=r.cctv_sent, received=r.cctv_received, cameras=1, **where, **ctx)
    measure("OPS-3", r.api_success * 100, units="%", calls=r.api_calls, **where, **ctx)


@pytest.mark.requirement("FO-3")
def test_dead_zone_in_window(lab: Lab, dut: OnboardRouter, replay, measure, window: Window, traveller: Passenger) -> None:
    settle(lab, dut, traveller.ns)
    lab_wans = lab.wan_order()
    with links_kept(lab), RequestLoop(traveller, f"http://{GROUND}/", every_s=0.2, timeout_s=1.0) as requests:
        playing = replay.play(window.trace, speed=window.speed, from_=window.from_s, to=window.to_s, links=window.links, name=Path(window.trace).name)
        measure.on_trace(playing.plan.name, playing.plan.trace.meta.content_sha256)
        try:
            driven = {link: wan for link, wan in map_links(playing.plan.links, lab_wans, window.links, ignore_unmapped=True).items() if wan}
            undriven = [w for w in lab_wans if w not in driven.values()]
            zones = [z for z in dead_zones(playing.plan, sorted(driven)) if z.end_t > playing.trace_time()]
            if not zones:
                pytest.skip(f"no span of the window {fmt_trace_time(playing.plan.t0)}-{fmt_trace_time(playing.plan.t1)} has every "
                            f"driven link ({', '.join(sorted(driven))}) out at once")
            with outages(lab, undriven):  # the WANs the trace says nothing about: out for the trip
                for i, zone in enumerate(zones):
                    playing.wait_for_trace_time(zone.end_t, timeout=playing.plan.wall_s + 5)
                    t_return = unix_time_of(playing, zone.end_t)
                    limit = unix_time_of(playing, zones[i + 1].start_t) if i + 1 < len(zones) else None
                    seen = watch_restore(requests, t_return=t_return, limit=limit)
                    km = playing.plan.km_at(zone.end_t)
                    print(f"dead zone {fmt_trace_time(zone.start_t)}-{fmt_trace_time(zone.end_t)} ({zone.length_s:.1f} s; "
                          f"{', '.join(undriven) or 'no other WAN'} cut): service back {seen.restore_s:.2f} s after the links returned"
                          f"{'' if seen.restored else ' (NOT within the wait)'}")
                    measure("FO-3", seen.restore_s, units="s", quantity="restore", trace_time_s=round(zone.end_t, 3),
                            km=None if km is None else round(km, 3), dead_zone_s=round(zone.length_s, 3),
                            restored=seen.restored, cut_for_window=",".join(undriven))
        finally:
            replay.stop()
