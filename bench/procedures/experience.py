"""The passengers' per-class experience while a route window replays: which window to play, and
how messaging, browsing, video and calls fared outside the spans the replayed link itself made
impossible (its outages, widened by what a DUT within FO-1 needs to move traffic and by the
passengers' request timeout; its rate dips below what the passengers offer, where the link's own
queue overflows whatever the DUT does).

    window = choose_window(trace, "oneweb", speed=5, wall_s=60, outage_at=1/3, min_outage_s=5)
    verdict = judge_experience(played, "oneweb", seconds_frame, quality_frame, Limits())

The frames are the load generator's per-second and per-client figures (loadgen.summary.seconds,
quality); they are read by the caller, so the library needs nothing of the load generator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bench.link.model import Impairment
from bench.traces.replay import OutageSpan, Replay, ReplayPlan, fmt_trace_time
from bench.traces.schema import Trace


@dataclass(frozen=True)
class Limits:
    """The bench's own limits for per-class experience during a replay (no catalogue requirement
    covers it: THR/FO/OPS measure other set-ups)."""

    failure_ratio_max: float = 0.05  # messaging and browsing, outside the outages
    rebuffer_ratio_max: float = 0.25  # video: stalled time over watched time
    call_loss_pct_max: float = 2.0  # calls, above the replayed link's own round-trip loss
    recovery_allowance_s: float = 10.0  # after an outage: FO-1's limit for moving traffic
    request_timeout_s: float = 20.0  # a request caught in an outage ends by then (loadgen/plan.py)
    call_s: float = 8.0  # the profile's call length (loadgen/profiles/mixed.yaml)
    video_session_s: float = 16.0  # the profile's video session (mixed.yaml)
    uplink_floor_bps: int = 2_000_000  # what the passengers offer the link up ...
    downlink_floor_bps: int = 10_000_000  # ... and down: below it the link's own queue drops

    def below_offered_load(self, direction: str, impairment: Impairment) -> bool:
        floor = self.uplink_floor_bps if direction == "up" else self.downlink_floor_bps
        return impairment.rate_bps is not None and impairment.rate_bps < floor


@dataclass(frozen=True)
class Window:
    outage: OutageSpan  # the satellite outage the window is built around
    in_coverage: bool  # LTE was up for most of it
    from_s: float
    to_s: float


def satellite_outages(trace: Trace, link: str) -> list[OutageSpan]:
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


def choose_window(trace: Trace, satellite: str, *, speed: float, wall_s: float, outage_at: float,
                  min_outage_s: float) -> Window:
    """`wall_s` of replay at `speed` around the route's first `satellite` outage of at least
    `min_outage_s` that falls outside LTE coverage (the passengers' dead zone), else its first such
    outage anywhere; the outage starts `outage_at` of the way into the window."""
    span = speed * wall_s
    end = float(trace.table["t_s"].max())
    candidates = [o for o in satellite_outages(trace, satellite)
                  if o.length_s >= min_outage_s and o.start_t >= span * outage_at and o.start_t + span < end]
    if not candidates:
        raise ValueError(f"the {trace.meta.route} trace has no {satellite} outage of >= {min_outage_s} s to replay around")
    dead = [o for o in candidates if _lte_up_fraction(trace, o.start_t, o.end_t) < 0.5]
    chosen = (dead or candidates)[0]
    from_s = chosen.start_t - span * outage_at
    return Window(chosen, not dead, from_s, from_s + span)


def link_round_trip_loss_pct(played: Replay, link: str) -> float:
    """Mean round-trip loss (%) the replay put on `link` outside its outages: 1 - (1-up)(1-down)."""
    per_direction: dict[str, list[float]] = {}
    for applied in played.applied:
        step = applied.step
        if step.link == link and not step.impairment.outage:
            per_direction.setdefault(step.direction, []).append(step.impairment.mean_loss)
    mean = {d: sum(v) / len(v) for d, v in per_direction.items() if v}
    return 100 * (1 - (1 - mean.get("up", 0.0)) * (1 - mean.get("down", 0.0)))


def _spans_wall(replay: Replay, spans: list[OutageSpan], slack_s: float) -> list[tuple[float, float]]:
    """Unix-time spans a passenger may feel each span in: from its start to its end + slack."""
    offset = time.time() - time.monotonic()
    return [(replay.mono_at(o.start_t) + offset, replay.mono_at(o.end_t) + offset + slack_s) for o in spans]


def _inside(t: float, spans: list[tuple[float, float]]) -> bool:
    return any(a <= t <= b for a, b in spans)


def _overlaps(start: float, end: float, spans: list[tuple[float, float]]) -> bool:
    return any(a <= end and start <= b for a, b in spans)


def _mean(values: Any) -> float:
    return float(values.mean()) if len(values) else 0.0


def trace_place(played: Replay, plan: ReplayPlan, unix: float) -> str:
    """'trace 01:14:02, km 431.2' for a wall-clock instant of the replay."""
    t = played.trace_time(unix - (time.time() - time.monotonic()))
    km = plan.km_at(t)
    return f"trace {fmt_trace_time(t)}" + (f", km {km:.1f}" if km is not None else "")


@dataclass
class Experience:
    lines: list[str] = field(default_factory=list)  # what each class saw, for the log
    problems: list[str] = field(default_factory=list)  # limits missed, with where in the trace
    invalid: list[str] = field(default_factory=list)  # what the passengers did not do: nothing to judge


def judge_experience(played: Replay, satellite: str, sec: Any, q: Any, limits: Limits) -> Experience:
    """Messaging and browsing failure ratios, video rebuffering and call loss of a load run that
    ran while `played` replayed, judged outside what `satellite`'s replayed link made impossible."""
    plan = played.plan
    affected = [s for s in plan.outages() if s.link == satellite]
    dips = [s for s in plan.spans_where(limits.below_offered_load) if s.link == satellite]
    spans = _spans_wall(played, affected, limits.recovery_allowance_s + limits.request_timeout_s)
    call_spans = _spans_wall(played, affected, limits.recovery_allowance_s)
    dip_spans = _spans_wall(played, dips, 1.0)  # the link's queue drains within a second
    link_loss_pct = link_round_trip_loss_pct(played, satellite)
    out = Experience()
    outage_text = ", ".join(f"{fmt_trace_time(s.start_t)} for {s.length_s:.1f} s (km {plan.km_at(s.start_t):.1f})" for s in affected)
    out.lines.append(f"{satellite} outages in the window: {outage_text}")
    # the Parquet times come back in their own resolution (s, ms): go through Timestamp
    sec = sec.copy()
    q = q.copy()
    sec["unix"] = [t.timestamp() + 0.5 for t in sec["time"]]  # the middle of the recorded second
    q["unix"] = [t.timestamp() for t in q["time"]]
    sec["in_outage"] = [_inside(t, spans) for t in sec["unix"]]

    for cls in ("messaging", "browsing"):
        rows = sec[sec["cls"] == cls]
        clean = rows[~rows["in_outage"]]
        requests, failures = int(clean["requests"].sum()), int(clean["failures"].sum())
        ratio = failures / requests if requests else 0.0
        out.lines.append(f"  {cls}: {requests} requests outside outages, {failures} failed ({ratio:.1%}); inside: "
                         f"{int(rows[rows['in_outage']]['requests'].sum())} requests, {int(rows[rows['in_outage']]['failures'].sum())} failed")
        if not requests:
            out.invalid.append(f"no {cls} request completed outside the outages: the passengers did not run")
        elif ratio > limits.failure_ratio_max:
            bad = clean[clean["failures"] > 0]
            places = "; ".join(f"{int(r.failures)} at {trace_place(played, plan, r.unix)}" for r in bad.head(5).itertuples())
            out.problems.append(f"{cls} failure ratio {ratio:.1%} outside the {satellite} outages > {limits.failure_ratio_max:.0%} "
                                f"({failures} of {requests}); failures at {places}")

    stalls = q[(q["cls"] == "video") & (q["metric"] == "video_rebuffer_s")]
    watched = len(stalls) * limits.video_session_s
    rebuffer = float(stalls["value"].sum()) / watched if watched else 0.0
    out.lines.append(f"  video: {len(stalls)} sessions, {stalls['value'].sum():.1f} s stalled, rebuffering ratio {rebuffer:.1%}, "
                     f"start-up p50 {q[q['metric'] == 'video_startup_s']['value'].median():.2f} s")
    if not len(stalls):
        out.invalid.append("no video session finished during the replay")
    elif rebuffer > limits.rebuffer_ratio_max:
        worst = stalls.sort_values("value").iloc[-1]
        out.problems.append(f"video rebuffering ratio {rebuffer:.1%} > {limits.rebuffer_ratio_max:.0%}; worst session "
                            f"{worst['value']:.1f} s stalled, ended at {trace_place(played, plan, worst['unix'])}")

    calls = q[(q["cls"] == "call") & (q["metric"] == "call_loss_pct")].copy()
    # a call's figure is written when it ends: it ran over [end - call_s - 1 s of late echoes, end]
    calls["hit"] = [_overlaps(end - limits.call_s - 1.5, end, call_spans) for end in calls["unix"]]
    calls["dip"] = [not hit and _overlaps(end - limits.call_s - 1.5, end, dip_spans) for end, hit in zip(calls["unix"], calls["hit"])]
    clean_calls = calls[~calls["hit"] & ~calls["dip"]]
    loss = float(clean_calls["value"].mean()) if len(clean_calls) else 0.0
    dip_text = ", ".join(f"{fmt_trace_time(s.start_t)} for {s.length_s:.0f} s" for s in dips) or "none"
    out.lines.append(f"  calls: {len(clean_calls)} outside outages and rate dips, mean loss {loss:.2f} %; "
                     f"{int(calls['hit'].sum())} overlapping an outage, mean loss {_mean(calls[calls['hit']]['value']):.2f} %; "
                     f"{int(calls['dip'].sum())} overlapping a rate dip, mean loss {_mean(calls[calls['dip']]['value']):.2f} %")
    out.lines.append(f"  {satellite} rate dips below {limits.uplink_floor_bps / 1e6:g} Mbit/s up or "
                     f"{limits.downlink_floor_bps / 1e6:g} Mbit/s down: {dip_text}")
    if not len(calls):
        out.invalid.append("no call finished during the replay")
    # The trace's own loss (Starlink drops ~3 % while moving) is the link's, not the DUT's: the DUT
    # may add at most call_loss_pct_max on top of what the replayed link itself drops.
    call_loss_max = limits.call_loss_pct_max + link_loss_pct
    out.lines.append(f"  the replayed {satellite} link's own round-trip loss outside outages: {link_loss_pct:.2f} %")
    if len(clean_calls) and loss > call_loss_max:
        worst = clean_calls.sort_values("value").iloc[-1]
        out.problems.append(f"call loss {loss:.2f} % outside outages > {call_loss_max:.2f} % (the link's own {link_loss_pct:.2f} % "
                            f"+ {limits.call_loss_pct_max} %); worst call {worst['value']:.1f} % ended at "
                            f"{trace_place(played, plan, worst['unix'])}")
    return out
