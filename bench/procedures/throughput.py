"""Goodput through the DUT while a trace window plays (THR-1/THR-2 on a replay: certification and
repro; the nightly measures on fixed link profiles), and what the replay's plan says about a
window (the failover procedures themselves are bench/procedures/failover.py):

- ``emulated_rate_bps``: the time-weighted rate the plan gave one trace link and direction between
  two trace times (0 during an outage): what a goodput is compared with;
- ``goodput_during``: an iperf3 run from a passenger through the DUT while the window plays, with
  the emulated rate over the same trace interval and where in the trace it was;
- ``unix_time_of``: the wall-clock instant the replay reached a trace time (for the wire's times);
- ``dead_zones``: the spans in which every driven link is out at once (FO-3's dead zone).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.link.probe import TCP_PAYLOAD_SHARE
from bench.traces.replay import OutageSpan, Replay, ReplayPlan

if TYPE_CHECKING:
    from bench.lab.lab import Lab
    from bench.traffic.iperf import IperfResult


def emulated_rate_bps(plan: ReplayPlan, link: str, direction: str, t_a: float, t_b: float) -> float:
    """Time-weighted rate of `link`/`direction` ('down'/'up') over trace times [t_a, t_b]; an outage
    counts as 0 and an unlimited rate as infinity."""
    steps = sorted((s for s in plan.steps if s.link == link and s.direction == direction), key=lambda s: s.trace_t)
    if not steps or t_b <= t_a:
        return 0.0
    total = 0.0
    for i, s in enumerate(steps):
        start = max(s.trace_t, t_a)
        end = min(steps[i + 1].trace_t if i + 1 < len(steps) else plan.t1, t_b)
        if end <= start:
            continue
        rate = 0.0 if s.impairment.outage else (s.impairment.rate_bps if s.impairment.rate_bps else float("inf"))
        total += rate * (end - start)
    return total / (t_b - t_a)


@dataclass(frozen=True)
class GoodputSample:
    direction: str  # downlink | uplink
    goodput_bps: float
    emulated_bps: float
    trace_t0: float
    trace_t1: float
    km: float | None
    retransmits: int | None

    @property
    def ratio_percent(self) -> float:
        """Goodput against the best TCP can carry over the emulated rate (THR-1/THR-2's method)."""
        best = self.emulated_bps * TCP_PAYLOAD_SHARE
        return self.goodput_bps / best * 100 if best else 0.0


def goodput_during(lab: Lab, replay: Replay, trace_link: str, ns: str, port: int, server: str, *, downlink: bool,
                   seconds: float, omit_s: float, streams: int) -> GoodputSample:
    """iperf3 from namespace `ns` through the DUT while `replay` plays; compared with what the trace
    gave `trace_link` over the measured part (after the omitted slow start)."""
    from bench.traffic.iperf import iperf_client

    started = replay.trace_time()
    result: IperfResult = iperf_client(lab, ns, port, server, seconds=seconds, omit_s=omit_s, streams=streams, reverse=downlink)
    ended = replay.trace_time()
    measured_from = min(started + omit_s * replay.plan.speed, ended)
    emulated = emulated_rate_bps(replay.plan, trace_link, "down" if downlink else "up", measured_from, ended)
    return GoodputSample("downlink" if downlink else "uplink", result.goodput_bps, emulated, measured_from, ended,
                         replay.plan.km_at(measured_from), result.retransmits)


def unix_time_of(replay: Replay, trace_t: float) -> float:
    """The wall-clock (time.time()) instant the replay reached trace time `trace_t`."""
    return replay.mono_at(trace_t) + (time.time() - time.monotonic())


def dead_zones(plan: ReplayPlan, links: list[str]) -> list[OutageSpan]:
    """Spans of the window in which every one of `links` is out at once (the train in a dead zone
    for those links), as OutageSpans of link "+".join(links)."""
    if not links:
        return []
    outages = plan.outages()
    common = [(o.start_t, o.end_t) for o in outages if o.link == links[0]]
    for link in links[1:]:
        spans = [(o.start_t, o.end_t) for o in outages if o.link == link]
        common = [(max(a0, b0), min(a1, b1)) for a0, a1 in common for b0, b1 in spans if max(a0, b0) < min(a1, b1)]
    return [OutageSpan("+".join(links), a, b) for a, b in sorted(common)]
