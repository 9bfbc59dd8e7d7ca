"""Nightly: route replays with passengers (per-class passenger experience over compressed windows
of the synthetic Kazakh routes) and the boarding storm (POR-1 portal login p95).

Route replays: each route's trace is generated (seed fixed) into the test's tmp dir; the window is
chosen from the trace itself: around the route's first satellite outage of at least
MIN_OUTAGE_TRACE_S that falls outside LTE coverage (the passengers' dead zone, the outage they
notice), else its first such outage anywhere. The window plays at SPEED (REPLAY_WALL_S of wall
time) with each trace link driving the lab WAN of the same name; lab WANs the train does not have
(starlink on the OneWeb routes, oneweb on Borovoe) are cut for the test, since a train with only
OneWeb and LTE cannot fail over to Starlink. A `mixed` passenger profile of PASSENGERS users runs
for the whole replay. From the load generator's per-second and per-client Parquet figures:

- messaging and browsing: failure ratio outside the satellite's outages (each outage span widened
  by RECOVERY_ALLOWANCE_S, FO-1's limit for moving traffic, and the passengers' request timeout,
  which is when a request caught in it ends) at most FAILURE_RATIO_MAX;
- video: total stall time over total watched time at most REBUFFER_RATIO_MAX;
- calls: mean packet loss of the calls that overlapped no outage and no rate dip at most
  CALL_LOSS_PCT_MAX above the replayed link's own round-trip loss (the trace's loss is the
  link's, not the DUT's). A rate dip is a span where the trace's rate falls below what the
  passengers offer (UPLINK_FLOOR_BPS, DOWNLINK_FLOOR_BPS): there the link's own queue overflows,
  past the router, whatever the router does (Starlink uplink dips to 0.3 Mbit/s on Borovoe).

No catalogue requirement covers per-class experience during a replay (THR/FO/OPS measure other
set-ups), so these are plain asserts whose messages name the trace time and km.

POR-1: 500 passengers of the `boarding` profile join within about a minute and log in through
the captive portal; the login time p95 is measured against the catalogue.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.devices.protocols import OnboardRouter
from bench.lab.lab import Lab
from bench.link.model import Impairment
from bench.procedures.failover import FAILOVER_WAIT_S
from bench.procedures.steady import settle, wait_for_path
from bench.traces.generator import generate
from bench.traces.replay import OutageSpan, fmt_trace_time
from bench.traces.schema import Trace
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
REQUEST_TIMEOUT_S = 20.0  # loadgen/plan.py request_timeout_s: a request caught in an outage ends by then
# After an outage ends, how long passengers may still feel it: what FO-1 allows a DUT to move
# traffic in (10 s), whichever way it goes (back to the satellite, or on from a backup).
RECOVERY_ALLOWANCE_S = 10.0
FAILURE_RATIO_MAX = 0.05
REBUFFER_RATIO_MAX = 0.25
CALL_LOSS_PCT_MAX = 2.0
CALL_S = 8.0  # loadgen/profiles/mixed.yaml call_s
# What the mixed profile offers the link: up, 2 CCTV cameras at 500 kbit/s, about two calls at
# 80 kbit/s and the TCP ACKs of the downloads; down, video and bulk transfers that TCP squeezes
# but calls' echoes queue behind. Below these the link's own queue drops packets.
UPLINK_FLOOR_BPS = 2_000_000
DOWNLINK_FLOOR_BPS = 10_000_000
BOARDING_PASSENGERS = 500
BOARDING_SPAWN_RATE = 9.0  # 500 logins in about 56 s


def _link_round_trip_loss_pct(played: object, link: str) -> float:
    """Mean round-trip loss (%) the replay put on `link` outside its outages: 1 - (1-up)(1-down)."""
    per_direction: dict[str, list[float]] = {}
    for applied in played.applied:  # type: ignore[attr-defined]
        step = applied.step
        if step.link == link and not step.impairment.outage:
            per_direction.setdefault(step.direction, []).append(step.impairment.mean_loss)
    mean = {d: sum(v) / len(v) for d, v in per_direction.items() if v}
    return 100 * (1 - (1 - mean.get("up", 0.0)) * (1 - mean.get("down", 0.0)))


@dataclass(frozen=True)
class Window:
    outage: OutageSpan  # the satellite outage the window is built around
    in_coverage: bool  # LTE was up for most of it
    from_s: float
    to_s: float


def _satellite_outages(trace: Trace, link: str) -> list[OutageSpan]:
    down = trace.table[(trace.table["link"] == link) & (trace.table["direction"] == "down")].reset_index(drop=True)
    out = down["outage"].astype(bool).to_numpy()
    t = down["t_s"].to_numpy()
    spans: list[OutageSpan] = []
    start: float | None = None
    for i, o in enumerate(out):
        if o and start is None:
            start = float(t[i])
        elif not o and start is not None:
            spans.append(OutageSpan(link, start, float(t[i])))
            start = None
    return spans


def _lte_up_fraction(trace: Trace, t0: float, t1: float) -> float:
    lte = trace.table[(trace.table["link"] == "lte") & (trace.table["direction"] == "down")]
    rows = lte[(lte["t_s"] >= t0) & (lte["t_s"] < t1)]
    return float((~rows["outage"].astype(bool)).mean()) if len(rows) else 0.0


def _choose_window(trace: Trace, satellite: str) -> Window:
    span = SPEED * REPLAY_WALL_S
    end = float(trace.table["t_s"].max())
    candidates = [o for o in _satellite_outages(trace, satellite)
                  if o.length_s >= MIN_OUTAGE_TRACE_S and o.start_t >= span * OUTAGE_AT and o.start_t + span < end]
    assert candidates, f"the {trace.meta.route} trace has no {satellite} outage of >= {MIN_OUTAGE_TRACE_S} s to replay around"
    dead = [o for o in candidates if _lte_up_fraction(trace, o.start_t, o.end_t) < 0.5]
    chosen = (dead or candidates)[0]
    from_s = chosen.start_t - span * OUTAGE_AT
    return Window(chosen, not dead, from_s, from_s + span)


def _spans_wall(replay, affected: list[OutageSpan], slack_s: float) -> list[tuple[float, float]]:
    """Unix-time spans a passenger may feel each outage in: from its start to its end + slack."""
    offset = time.time() - time.monotonic()
    return [(replay.mono_at(o.start_t) + offset, replay.mono_at(o.end_t) + offset + slack_s) for o in affected]


def _inside(t: float, spans: list[tuple[float, float]]) -> bool:
    return any(a <= t <= b for a, b in spans)


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
    window = _choose_window(trace, satellite)
    o = window.outage
    km_at_outage = float(trace.table.loc[(trace.table["link"] == satellite) & (trace.table["t_s"] >= o.start_t), "km"].iloc[0])
    print(f"\n{route}: window {fmt_trace_time(window.from_s)}-{fmt_trace_time(window.to_s)} at speed {SPEED:g}, around the "
          f"{o.length_s:.1f} s {satellite} outage at {fmt_trace_time(o.start_t)} (km {km_at_outage:.1f}, "
          f"{'inside' if window.in_coverage else 'outside'} LTE coverage); lab WANs cut for the trip: {absent}")

    settle(lab, dut, traveller.ns)
    recovery_s = RECOVERY_ALLOWANCE_S
    with links_kept(lab), outages(lab, absent):
        wait_for_path(lab, traveller.ns, satellite, FAILOVER_WAIT_S)
        ramp_s = PASSENGERS / SPAWN_RATE + 2
        run = passengers.start("mixed", users=PASSENGERS, spawn_rate=SPAWN_RATE, run_time_s=ramp_s + REPLAY_WALL_S + 3)
        time.sleep(ramp_s)
        try:
            played = replay.play(path, speed=SPEED, from_=window.from_s, to=window.to_s,
                                 links={link: link for link in trace_links}, name=path.name)
            assert played.wait(timeout=REPLAY_WALL_S * 2 + 30), f"the {route} replay did not play to its end"
            plan = played.plan
            affected = [s for s in plan.outages() if s.link == satellite]
            dips = [s for s in plan.spans_where(_below_offered_load) if s.link == satellite]
            spans = _spans_wall(played, affected, recovery_s + REQUEST_TIMEOUT_S)
            call_spans = _spans_wall(played, affected, recovery_s)
            dip_spans = _spans_wall(played, dips, 1.0)  # the link's queue drains within a second
            where_of = lambda unix: _trace_place(played, plan, unix)  # noqa: E731
            steps_out = [a for a in played.applied if a.step.link == satellite and a.step.impairment.outage]
            link_loss_pct = _link_round_trip_loss_pct(played, satellite)
        finally:
            replay.stop()
        run.wait()
        run.stop()

    assert steps_out, f"no {satellite} outage step was applied in {route} {fmt_trace_time(window.from_s)}-{fmt_trace_time(window.to_s)}"
    outage_text = ", ".join(f"{fmt_trace_time(s.start_t)} for {s.length_s:.1f} s (km {plan.km_at(s.start_t):.1f})" for s in affected)
    sec = seconds(run.out_dir)
    q = quality(run.out_dir)
    # the Parquet times come back in their own resolution (s, ms): go through Timestamp
    sec["unix"] = [t.timestamp() + 0.5 for t in sec["time"]]  # the middle of the recorded second
    q["unix"] = [t.timestamp() for t in q["time"]]
    sec["in_outage"] = [_inside(t, spans) for t in sec["unix"]]
    lines = [f"{route}: {satellite} outages in the window: {outage_text}"]
    problems: list[str] = []

    for cls in ("messaging", "browsing"):
        rows = sec[sec["cls"] == cls]
        clean = rows[~rows["in_outage"]]
        requests, failures = int(clean["requests"].sum()), int(clean["failures"].sum())
        ratio = failures / requests if requests else 0.0
        lines.append(f"  {cls}: {requests} requests outside outages, {failures} failed ({ratio:.1%}); "
                     f"inside: {int(rows[rows['in_outage']]['requests'].sum())} requests, {int(rows[rows['in_outage']]['failures'].sum())} failed")
        assert requests > 0, f"{route}: no {cls} request completed outside the outages: the passengers did not run"
        if ratio > FAILURE_RATIO_MAX:
            bad = clean[clean["failures"] > 0]
            places = "; ".join(f"{int(r.failures)} at {where_of(r.unix)}" for r in bad.head(5).itertuples())
            problems.append(f"{cls} failure ratio {ratio:.1%} outside the {satellite} outages > {FAILURE_RATIO_MAX:.0%} "
                            f"({failures} of {requests}); failures at {places}")

    stalls = q[(q["cls"] == "video") & (q["metric"] == "video_rebuffer_s")]
    watched = len(stalls) * 16.0  # mixed.yaml video session_s
    rebuffer = float(stalls["value"].sum()) / watched if watched else 0.0
    lines.append(f"  video: {len(stalls)} sessions, {stalls['value'].sum():.1f} s stalled, rebuffering ratio {rebuffer:.1%}, "
                 f"start-up p50 {q[q['metric'] == 'video_startup_s']['value'].median():.2f} s")
    assert len(stalls) > 0, f"{route}: no video session finished during the replay"
    if rebuffer > REBUFFER_RATIO_MAX:
        worst = stalls.sort_values("value").iloc[-1]
        problems.append(f"video rebuffering ratio {rebuffer:.1%} > {REBUFFER_RATIO_MAX:.0%}; worst session "
                        f"{worst['value']:.1f} s stalled, ended at {where_of(worst['unix'])}")

    calls = q[(q["cls"] == "call") & (q["metric"] == "call_loss_pct")].copy()
    # a call's figure is written when it ends: it ran over [end - call_s - 1 s of late echoes, end]
    calls["hit"] = [_overlaps(end - CALL_S - 1.5, end, call_spans) for end in calls["unix"]]
    calls["dip"] = [not hit and _overlaps(end - CALL_S - 1.5, end, dip_spans) for end, hit in zip(calls["unix"], calls["hit"])]
    clean_calls = calls[~calls["hit"] & ~calls["dip"]]
    loss = float(clean_calls["value"].mean()) if len(clean_calls) else 0.0
    dip_text = ", ".join(f"{fmt_trace_time(s.start_t)} for {s.length_s:.0f} s" for s in dips) or "none"
    lines.append(f"  calls: {len(clean_calls)} outside outages and rate dips, mean loss {loss:.2f} %; "
                 f"{int(calls['hit'].sum())} overlapping an outage, mean loss {_mean(calls[calls['hit']]['value']):.2f} %; "
                 f"{int(calls['dip'].sum())} overlapping a rate dip, mean loss {_mean(calls[calls['dip']]['value']):.2f} %")
    lines.append(f"  {satellite} rate dips below {UPLINK_FLOOR_BPS / 1e6:g} Mbit/s up or {DOWNLINK_FLOOR_BPS / 1e6:g} Mbit/s "
                 f"down: {dip_text}")
    assert len(calls) > 0, f"{route}: no call finished during the replay"
    # The trace's own loss (Starlink drops ~3 % while moving) is the link's, not the DUT's: the DUT
    # may add at most CALL_LOSS_PCT_MAX on top of what the replayed link itself drops.
    call_loss_max = CALL_LOSS_PCT_MAX + link_loss_pct
    lines.append(f"  the replayed {satellite} link's own round-trip loss outside outages: {link_loss_pct:.2f} %")
    if len(clean_calls) and loss > call_loss_max:
        worst = clean_calls.sort_values("value").iloc[-1]
        problems.append(f"call loss {loss:.2f} % outside outages > {call_loss_max:.2f} % (the link's own {link_loss_pct:.2f} % "
                        f"+ {CALL_LOSS_PCT_MAX} %); worst call {worst['value']:.1f} % ended at {where_of(worst['unix'])}")
    print("\n".join(lines))
    assert not problems, f"{route} ({fmt_trace_time(window.from_s)}-{fmt_trace_time(window.to_s)} at speed {SPEED:g}):\n" + "\n".join(problems)


def _below_offered_load(direction: str, impairment: Impairment) -> bool:
    floor = UPLINK_FLOOR_BPS if direction == "up" else DOWNLINK_FLOOR_BPS
    return impairment.rate_bps is not None and impairment.rate_bps < floor


def _overlaps(start: float, end: float, spans: list[tuple[float, float]]) -> bool:
    return any(a <= end and start <= b for a, b in spans)


def _mean(values) -> float:
    return float(values.mean()) if len(values) else 0.0


def _trace_place(played, plan, unix: float) -> str:
    mono = unix - (time.time() - time.monotonic())
    t = played.trace_time(mono)
    km = plan.km_at(t)
    return f"trace {fmt_trace_time(t)}" + (f", km {km:.1f}" if km is not None else "")


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
    measure("POR-1", p95, units="s", quantity="login_p95", passengers=BOARDING_PASSENGERS,
            logged_in=int(logins["client"].nunique()), window_s=round(span, 1))
    assert logins["client"].nunique() >= 0.95 * BOARDING_PASSENGERS, (
        f"only {logins['client'].nunique()} of {BOARDING_PASSENGERS} boarding passengers got through the portal; "
        f"first errors: {s['errors'][:3]}")
