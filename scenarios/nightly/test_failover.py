"""Nightly: failover and dead zones (FO-1 detection and switch, FO-2 failback without flapping,
FO-3 service restored after a dead zone), forced with the sky links' outage switch.

A whole-trip passenger (DHCP lease, unlimited package) runs a continuous UDP probe to the ground
for the whole test: a long-lived "call" flow every 20 ms (its longest gap is what a passenger in a
call notices, and whether it continues says which traffic survives) and a new flow every 100 ms
(which WAN new traffic takes: "traffic moved"). Detection is read from the DUT's own event log
(the reference router's status API); switch, failback and restore are what the passenger saw.

- the active satellite (oneweb) cut, then back: FO-1 (detection, switch to starlink), FO-2
  (failback to oneweb, switches back to it in the recovery window);
- an LTE coverage segment: both satellites cut at once, traffic on LTE; both back: FO-1, FO-2;
- a dead zone: every WAN cut for DEAD_ZONE_S (the requirement's 60 s), then all back: FO-3
  (from the links' return to the passenger's first successful HTTP request to the ground).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bench.devices.reference.passenger import Passenger
from bench.devices.reference.router import ReferenceRouter
from bench.lab import addressing
from bench.lab.lab import Lab
from bench.traffic import wanstate
from bench.traffic.links import outages
from bench.traffic.probes import PassengerProbe, RequestLoop

pytestmark = [pytest.mark.nightly, pytest.mark.lab]

GROUND = str(addressing.GROUND_SERVER.ip)
DEAD_ZONE_S = 60.0  # FO-3: "all WANs down >= 60 s"
HELD_DOWN_S = 3.0  # how long a cut lasts after the switch was seen
RECOVERY_WINDOW_S = 10.0  # after failback: any further switch back and forth is flapping
SLACK_S = 15.0  # waits beyond the configured times before the test gives up (a fail, measured)


@pytest.fixture
def probe(traveller: Passenger, router: ReferenceRouter) -> Iterator[PassengerProbe]:
    wanstate.settle(router)
    with PassengerProbe(traveller.ns, GROUND) as p:
        time.sleep(1.0)  # answers before the cut: the probe itself works
        yield p
    wanstate.settle(router)


def _first_event(router: ReferenceRouter, since: float, event: str, timeout_s: float, **match: str) -> dict | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [e for e in router.events(since=since, event=event) if all(e.get(k) == v for k, v in match.items())]
        if found:
            return found[0]
        time.sleep(0.1)
    return None


def _cut_and_restore(lab: Lab, router: ReferenceRouter, probe: PassengerProbe, measure, cut: list[str], scenario: str) -> None:
    """Cut `cut` (the preferred WAN first), measure FO-1; restore, measure FO-2."""
    h = router.config.health
    order = wanstate.preferred(router)
    preferred = order[0]
    survivors = [w for w in order if w not in cut]
    assert survivors, "a cut of every WAN is the dead zone test"
    addresses = {n: w["address"] for n, w in router.status()["wans"].items()}
    assert probe.answered_between("new", time.time() - 1.0, time.time()) > 0, "the passenger probe got no answers before the cut"
    with outages(lab, cut):
        t_cut = time.time()
        down = _first_event(router, t_cut, "wan_down", h.detection_s + SLACK_S, wan=preferred)
        moved = None
        deadline = time.monotonic() + h.detection_s + SLACK_S
        while moved is None and time.monotonic() < deadline:
            moved = probe.first_via("new", addresses[survivors[0]], after=t_cut)
            time.sleep(0.1)
        time.sleep(HELD_DOWN_S)
        t_end_of_cut = time.time()
    t_up = time.time()
    gap_cut = probe.longest_gap(t_cut, t_end_of_cut)
    call_after = probe.of("call", (moved.received if moved else t_end_of_cut), t_end_of_cut)
    limit_s = h.detection_s + SLACK_S
    detection = (down["time"] - t_cut) if down else limit_s
    switch = (moved.received - t_cut) if moved else limit_s
    print(f"{scenario}: {preferred} declared down after {detection:.2f} s"
          f"{'' if down else ' (NOT declared within the wait: recorded as the wait)'}; new flows on {survivors[0]} after {switch:.2f} s; "
          f"call's longest gap {gap_cut:.2f} s, call {'continued' if call_after else 'did NOT continue'} on the new WAN")
    where = {"scenario": scenario, "cut": ",".join(cut), "to": survivors[0], "configured_detection_s": h.detection_s}
    measure("FO-1", detection, units="s", quantity="detection", declared=down is not None, **where)
    measure("FO-1", switch, units="s", quantity="switch", call_longest_gap_s=round(gap_cut, 3), call_survived=bool(call_after),
            moved=moved is not None, **where)

    # Failback: the preferred WAN is back; new flows return to it after the DUT's hold.
    wait = h.up_after * h.interval_s + h.timeout_s + h.failback_hold_s + SLACK_S
    back = None
    deadline = time.monotonic() + wait
    while back is None and time.monotonic() < deadline:
        back = probe.first_via("new", addresses[preferred], after=t_up)
        time.sleep(0.2)
    t_back = back.received if back else time.time()
    time.sleep(RECOVERY_WINDOW_S)
    t_window_end = time.time()
    switches = [e for e in router.status()["switches"] if t_up <= e["time"] <= t_window_end and e["class"] == "passengers"]
    to_preferred = [e for e in switches if e["to"] == preferred]
    failback = (t_back - t_up) if back else wait
    gap_back = probe.longest_gap(t_up, t_window_end)
    print(f"{scenario}: {','.join(cut)} back; new flows on {preferred} after {failback:.2f} s"
          f"{'' if back else ' (NOT within the wait: recorded as the wait)'} (up_after {h.up_after} x {h.interval_s} s + hold {h.failback_hold_s} s); "
          f"passenger switches in the recovery window: {[(e['from'], e['to']) for e in switches]}; call's longest gap {gap_back:.2f} s")
    back_where = {"scenario": scenario, "returned": ",".join(cut), "configured_hold_s": h.failback_hold_s}
    measure("FO-2", failback, units="s", quantity="failback", returned_in_time=back is not None, call_longest_gap_s=round(gap_back, 3), **back_where)
    measure("FO-2", len(to_preferred), units="count", quantity="switches", all_switches=len(switches), **back_where)


@pytest.mark.requirement("FO-1", "FO-2")
def test_active_satellite_outage_and_return(lab: Lab, router: ReferenceRouter, probe: PassengerProbe, measure) -> None:
    _cut_and_restore(lab, router, probe, measure, [wanstate.preferred(router)[0]], "active satellite cut")


@pytest.mark.requirement("FO-1", "FO-2")
def test_both_satellites_down_in_an_lte_segment(lab: Lab, router: ReferenceRouter, probe: PassengerProbe, measure) -> None:
    sats = [w.name for w in lab.plan.wans if w.kind == "satellite"]
    if len(sats) < 2 or len(sats) == len(lab.plan.wans):
        pytest.skip(f"needs two satellite WANs and a cellular one (lab: {[(w.name, w.kind) for w in lab.plan.wans]})")
    _cut_and_restore(lab, router, probe, measure, sats, "LTE coverage segment (both satellites down)")


@pytest.mark.requirement("FO-3")
def test_dead_zone_then_service_restored(lab: Lab, router: ReferenceRouter, traveller: Passenger, probe: PassengerProbe, measure) -> None:
    h = router.config.health
    every = [w.name for w in lab.plan.wans]
    with RequestLoop(traveller, f"http://{GROUND}/", every_s=0.2, timeout_s=1.0) as requests:
        with outages(lab, every):
            t_cut = time.time()
            time.sleep(DEAD_ZONE_S)
            t_return = time.time()
            leaked = probe.answered_between("new", t_cut + 1.0, t_return) + probe.answered_between("call", t_cut + 1.0, t_return)
        wait = h.up_after * h.interval_s + h.timeout_s + SLACK_S + 10
        deadline = time.monotonic() + wait
        restored = None
        while restored is None and time.monotonic() < deadline:
            restored = requests.first_success(after=t_return)
            time.sleep(0.1)
    call_back = probe.of("call", t_return, time.time())
    restore = (restored - t_return) if restored else wait
    failed_during = sum(1 for s, _, ok in requests.results if t_cut + 1.0 <= s <= t_return - 1.0 and not ok)
    print(f"dead zone {DEAD_ZONE_S:.0f} s: {failed_during} passenger requests failed in it, {leaked} probe answers got through (expected 0); "
          f"service restored {restore:.2f} s after the links returned{'' if restored else ' (NOT within the wait)'}; "
          f"call {'resumed' if call_back else 'did NOT resume'} ({len(call_back)} answers after the return); active {router.status()['active']}")
    measure("FO-3", restore, units="s", quantity="restore", dead_zone_s=DEAD_ZONE_S, restored=restored is not None,
            call_resumed=bool(call_back), active_after=router.status()["active"]["passengers"])
    assert leaked == 0, f"{leaked} probe answers crossed a lab with every sky link in outage: the bench's outage is broken"
