"""Nightly: route replays with passengers (per-class passenger experience over compressed windows
of the synthetic Kazakh routes) and the boarding storm (POR-1 portal login p95).

Route replays: each route's trace is generated (seed fixed) into the test's tmp dir; the window is
chosen from the trace itself: around the route's first satellite outage of at least
MIN_OUTAGE_TRACE_S that falls outside LTE coverage (the passengers' dead zone, the outage they
notice), else its first such outage anywhere. The window plays at SPEED (REPLAY_WALL_S of wall
time) with each trace link driving the lab WAN of the same name; lab WANs the train does not have
(starlink on the OneWeb routes, oneweb on Borovoe) are cut for the test, since a train with only
OneWeb and LTE cannot fail over to Starlink. A `mixed` passenger profile of PASSENGERS users runs
for the whole replay. From the load generator's per-second and per-client Parquet figures, the
procedure in bench/procedures/experience.py (its `Limits`) judges:

- messaging and browsing: failure ratio outside the satellite's outages (each outage span widened
  by FO-1's 10 s for moving traffic and the passengers' request timeout, which is when a request
  caught in it ends) at most 5 %;
- video: total stall time over total watched time at most 25 %;
- calls: mean packet loss of the calls that overlapped no outage and no rate dip at most 2 %
  above the replayed link's own round-trip loss (the trace's loss is the link's, not the DUT's).
  A rate dip is a span where the trace's rate falls below what the passengers offer (2 Mbit/s
  up, 10 Mbit/s down): there the link's own queue overflows, past the router, whatever the
  router does (Starlink uplink dips to 0.3 Mbit/s on Borovoe).

No catalogue requirement covers per-class experience during a replay (THR/FO/OPS measure other
set-ups), so these are plain asserts whose messages name the trace time and km.

POR-1: 500 passengers of the `boarding` profile join within about a minute and log in through
the captive portal; the login time p95 is measured against the catalogue.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.devices.protocols import OnboardRouter
from bench.lab.lab import Lab
from bench.procedures.experience import Limits, choose_window, judge_experience
from bench.procedures.failover import FAILOVER_WAIT_S
from bench.procedures.steady import settle, wait_for_path
from bench.traces.generator import generate
from bench.traces.replay import fmt_trace_time
from bench.traffic.links import links_kept, outages
from bench.traffic.passenger import Passenger
from loadgen.summary import quality, seconds

pytestmark = [pytest.mark.nightly, pytest.mark.lab]

ROUTES = ("astana-almaty", "astana-oskemen", "astana-borovoe")
SEED = 7
SPEED = 5.0  # 5 min of trip in a minute: a 10 s outage still lasts 2 s on the link
REPLAY_WALL_S = 60.0
OUTAGE_AT = 1 / 3  # where in the window the chosen outage starts
MIN_OUTAGE_TRACE_S = 5.0
PASSENGERS = 70  # mixed profile: 10 ops devices (POS, CCTV, conductors) and 60 passengers
SPAWN_RATE = 20.0
LIMITS = Limits()  # the bench's own per-class limits (bench/procedures/experience.py)
BOARDING_PASSENGERS = 500
BOARDING_SPAWN_RATE = 9.0  # 500 logins in about 56 s


@pytest.mark.parametrize("route", ROUTES)
def test_route_replay_with_passengers(route: str, lab: Lab, dut: OnboardRouter, traveller: Passenger, replay, passengers,
                                     tmp_path: Path) -> None:
    from bench.traces import read_trace, write_trace

    path = tmp_path / f"{route}-seed{SEED}.parquet"
    write_trace(generate(route, seed=SEED), path)  # the file the replay reads, hashed in its plan
    trace = read_trace(path)
    trace_links = sorted(set(trace.table["link"]))
    lab_wans = [w.name for w in lab.plan.wans]
    missing = [link for link in trace_links if link not in lab_wans]
    if missing:
        pytest.skip(f"the lab has no WAN for the {route} trace's links {missing} (lab WANs: {lab_wans})")
    satellite = next(link for link in trace_links if link != "lte")
    absent = [w for w in lab_wans if w not in trace_links]
    window = choose_window(trace, satellite, speed=SPEED, wall_s=REPLAY_WALL_S, outage_at=OUTAGE_AT,
                           min_outage_s=MIN_OUTAGE_TRACE_S)
    o = window.outage
    km_at_outage = float(trace.table.loc[(trace.table["link"] == satellite) & (trace.table["t_s"] >= o.start_t), "km"].iloc[0])
    print(f"\n{route}: window {fmt_trace_time(window.from_s)}-{fmt_trace_time(window.to_s)} at speed {SPEED:g}, around the "
          f"{o.length_s:.1f} s {satellite} outage at {fmt_trace_time(o.start_t)} (km {km_at_outage:.1f}, "
          f"{'inside' if window.in_coverage else 'outside'} LTE coverage); lab WANs cut for the trip: {absent}")

    settle(lab, dut, traveller.ns)
    with links_kept(lab), outages(lab, absent):
        wait_for_path(lab, traveller.ns, satellite, FAILOVER_WAIT_S)
        ramp_s = PASSENGERS / SPAWN_RATE + 2
        run = passengers.start("mixed", users=PASSENGERS, spawn_rate=SPAWN_RATE, run_time_s=ramp_s + REPLAY_WALL_S + 3)
        time.sleep(ramp_s)
        try:
            played = replay.play(path, speed=SPEED, from_=window.from_s, to=window.to_s,
                                 links={link: link for link in trace_links}, name=path.name)
            assert played.wait(timeout=REPLAY_WALL_S * 2 + 30), f"the {route} replay did not play to its end"
            steps_out = [a for a in played.applied if a.step.link == satellite and a.step.impairment.outage]
        finally:
            replay.stop()
        run.wait()
        run.stop()

    assert steps_out, f"no {satellite} outage step was applied in {route} {fmt_trace_time(window.from_s)}-{fmt_trace_time(window.to_s)}"
    seen = judge_experience(played, satellite, seconds(run.out_dir), quality(run.out_dir), LIMITS)
    print(f"{route}: " + "\n".join(seen.lines))
    assert not seen.invalid, f"{route}: " + "; ".join(seen.invalid)
    assert not seen.problems, (f"{route} ({fmt_trace_time(window.from_s)}-{fmt_trace_time(window.to_s)} at speed {SPEED:g}):\n"
                               + "\n".join(seen.problems))


@pytest.mark.requirement("POR-1")
def test_boarding_storm_portal_logins(lab: Lab, dut: OnboardRouter, traveller: Passenger, passengers, measure) -> None:
    settle(lab, dut, traveller.ns)
    users = BOARDING_PASSENGERS + 2  # the boarding profile's 2 conductors' terminals are not passengers
    run = passengers.run("boarding", users=users, spawn_rate=BOARDING_SPAWN_RATE, run_time_s=users / BOARDING_SPAWN_RATE + 8)
    q = quality(run.out_dir)
    logins = q[q["metric"] == "portal_login_s"]
    span = (logins["time"].max() - logins["time"].min()).total_seconds() if len(logins) else 0.0
    p95 = float(logins["value"].quantile(0.95)) if len(logins) else float("inf")
    s = run.summary()
    print(f"\nboarding storm: {logins['client'].nunique()} of {BOARDING_PASSENGERS} passengers logged in within {span:.1f} s; "
          f"login p50 {logins['value'].median():.3f} s, p95 {p95:.3f} s, max {logins['value'].max():.3f} s; "
          f"{s['error_count']} user errors")
    # The storm happened, or its p95 says nothing: most of the passengers must have boarded.
    assert logins["client"].nunique() >= 0.95 * BOARDING_PASSENGERS, (
        f"only {logins['client'].nunique()} of {BOARDING_PASSENGERS} boarding passengers got through the portal; "
        f"first errors: {s['errors'][:3]}")
    measure("POR-1", p95, units="s", quantity="login_p95", passengers=BOARDING_PASSENGERS,
            logged_in=int(logins["client"].nunique()), window_s=round(span, 1))
