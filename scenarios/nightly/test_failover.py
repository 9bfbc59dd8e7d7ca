"""Nightly: failover and dead zones (FO-1 detection and switch, FO-2 failback without flapping,
FO-3 service restored after a dead zone), forced with the sky links' outage switch.

A whole-trip passenger runs a continuous UDP probe to the ground for the whole test: a long-lived
"call" flow every 20 ms and a new flow every 100 ms; the ground names the WAN each one left the
train by. Every figure is what that passenger saw (bench/procedures/failover.py); the DUT's own
log and WAN table are read beside it, attached, and any disagreement printed and recorded.

- the active satellite (the lab's most preferred WAN) cut, then back: FO-1, FO-2;
- an LTE coverage segment: both satellites cut at once, traffic on LTE; both back: FO-1, FO-2;
- a dead zone: every WAN cut for DEAD_ZONE_S (the requirement's 60 s), then all back: FO-3
  (from the links' return to the passenger's first successful HTTP request to the ground).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import allure
import pytest

from bench.devices.profile import DutProfile
from bench.devices.protocols import OnboardRouter
from bench.lab import addressing
from bench.lab.lab import Lab
from bench.procedures.failover import hear_the_dut, note_dut_state, watch_failback, watch_failover, watch_restore
from bench.procedures.steady import settle
from bench.traffic.links import outages
from bench.traffic.passenger import Passenger
from bench.traffic.probes import PassengerProbe, RequestLoop

pytestmark = [pytest.mark.nightly, pytest.mark.lab]

GROUND = str(addressing.GROUND_SERVER.ip)
DEAD_ZONE_S = 60.0  # FO-3: "all WANs down >= 60 s"
HELD_DOWN_S = 3.0  # how long a cut lasts after traffic was seen to move


@pytest.fixture
def probe(lab: Lab, dut: OnboardRouter, traveller: Passenger) -> Iterator[PassengerProbe]:
    settle(lab, dut, traveller.ns)
    with PassengerProbe(traveller.ns, GROUND, wan_of=lab.wan_at_ground) as p:
        time.sleep(1.0)  # answers before the cut: the probe itself works
        yield p
    settle(lab, dut, traveller.ns)


def cut_and_restore(lab: Lab, dut: OnboardRouter, profile: DutProfile, probe: PassengerProbe, measure: Any,
                    cut: list[str], scenario: str) -> None:
    """Cut `cut` (the preferred WAN among them), measure FO-1; restore, measure FO-2."""
    preferred = lab.wan_order()[0]
    now = time.time()
    probe_works = {"the passenger probe was answered in the second before the cut": probe.answered_between("new", now - 1.0, now) > 0}
    with outages(lab, cut):
        t_cut = time.time()
        seen = watch_failover(lab, probe, lost=cut, t_cut=t_cut)
        note_dut_state(seen, dut, profile, lab.wan_order())
        time.sleep(HELD_DOWN_S)
    t_up = time.time()
    back = watch_failback(probe, wan=preferred, t_up=t_up)
    hear_the_dut(seen, dut, profile, lab.wan_order())  # after the failback: a DUT that logs late has had the time to log
    allure.attach(json.dumps(seen.evidence(), indent=1, default=str), name=f"{scenario}: wire and the DUT's account",
                  attachment_type=allure.attachment_type.JSON)
    print(f"{scenario}: {seen.summary()}\n{scenario}: {back.summary()}")
    where = {"scenario": scenario, "preconditions": probe_works, **seen.context()}
    measure("FO-1", seen.detection_s, units="s", quantity="detection", **where)
    measure("FO-1", seen.switch_s, units="s", quantity="switch", **where)
    measure("FO-2", back.failback_s, units="s", quantity="failback", scenario=scenario, preconditions=probe_works, **back.context())
    measure("FO-2", back.switches, units="count", quantity="switches", scenario=scenario, preconditions=probe_works, **back.context())


@pytest.mark.requirement("FO-1", "FO-2")
def test_active_satellite_outage_and_return(lab: Lab, dut: OnboardRouter, profile: DutProfile, probe: PassengerProbe,
                                            measure: Any) -> None:
    cut_and_restore(lab, dut, profile, probe, measure, [lab.wan_order()[0]], "active satellite cut")


@pytest.mark.requirement("FO-1", "FO-2")
def test_both_satellites_down_in_an_lte_segment(lab: Lab, dut: OnboardRouter, profile: DutProfile, probe: PassengerProbe,
                                                measure: Any) -> None:
    sats = [w.name for w in lab.plan.wans if w.kind == "satellite"]
    if len(sats) < 2 or len(sats) == len(lab.plan.wans):
        pytest.skip(f"needs two satellite WANs and a cellular one (lab: {[(w.name, w.kind) for w in lab.plan.wans]})")
    cut_and_restore(lab, dut, profile, probe, measure, sats, "LTE coverage segment (both satellites down)")


@pytest.mark.requirement("FO-3")
def test_dead_zone_then_service_restored(lab: Lab, traveller: Passenger, probe: PassengerProbe, measure: Any) -> None:
    every = lab.wan_order()
    with RequestLoop(traveller, f"http://{GROUND}/", every_s=0.2, timeout_s=1.0) as requests:
        with outages(lab, every):
            t_cut = time.time()
            time.sleep(DEAD_ZONE_S)
            t_return = time.time()
            leaked = probe.answered_between("new", t_cut + 1.0, t_return) + probe.answered_between("call", t_cut + 1.0, t_return)
        seen = watch_restore(requests, t_return=t_return, t_cut=t_cut)
    call_back = probe.of("call", t_return, time.time())
    print(f"dead zone {DEAD_ZONE_S:.0f} s: {seen.failed_during} passenger requests failed in it, {leaked} probe answers got "
          f"through (expected 0); service restored {seen.restore_s:.2f} s after the links returned"
          f"{'' if seen.restored else ' (NOT within the wait)'}; call {'resumed' if call_back else 'did NOT resume'}")
    measure("FO-3", seen.restore_s, units="s", quantity="restore", dead_zone_s=DEAD_ZONE_S, restored=seen.restored,
            preconditions={f"no probe answer crossed the lab with every sky link out (the outage works; {leaked} did)": leaked == 0},
            call_resumed=bool(call_back), wan_after=probe.current_wan())
