"""Measurements made while a trace window plays on the lab: what the certification and repro suites
share (the nightly measures on fixed link profiles; these measure on a replayed window).

- ``links_kept``: every WAN's sky link as it was before the replay, put back afterwards (a replay
  leaves the links in the last state it applied, which may be an outage);
- ``emulated_rate_bps``: the time-weighted rate the plan gave one trace link and direction between
  two trace times (0 during an outage): what a goodput is compared with;
- ``goodput_during``: an iperf3 run from a passenger through the DUT while the window plays, with
  the emulated rate over the same trace interval and where in the trace it was;
- ``failover_at``: at an outage of the trace link that drives the passengers' active WAN, when the
  DUT declared that WAN down (its event log) and when a passenger's new flows were answered again
  (through another WAN, or the same one once it came back);
- ``dead_zones``: the spans in which every driven link is out at once (FO-3's dead zone);
- ``failback_after``: once a declared outage has ended, when a passenger's new flows went through
  that WAN again and how many times the DUT switched back to it (flapping).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.traces.replay import OutageSpan, Replay, ReplayPlan
from bench.link.probe import TCP_PAYLOAD_SHARE

if TYPE_CHECKING:
    from bench.devices.reference.router import ReferenceRouter
    from bench.lab.lab import Lab
    from bench.traffic.iperf import IperfResult
    from bench.traffic.probes import PassengerProbe

SLACK_S = 15.0  # waits beyond the configured detection before giving up (recorded as the wait)


@contextmanager
def links_kept(lab: Lab) -> Iterator[None]:
    """Every sky link's spec saved now and set back when the block ends (also on failure)."""
    saved = {name: lab.link(name).spec for name in lab.links}
    try:
        yield
    finally:
        for name, spec in saved.items():
            lab.link(name).set(spec)


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


@dataclass(frozen=True)
class FailoverSample:
    wan: str  # the WAN the trace link drives
    outage: OutageSpan
    km: float | None
    detection_s: float | None  # None: the outage was shorter than the DUT's configured detection
    declared: bool  # the DUT declared the WAN down within the wait
    switch_s: float  # cut -> first answered new flow (the wait, if none came)
    answered: bool
    via_wan: str | None  # the WAN that answered first after the cut
    call_longest_gap_s: float

    def context(self) -> dict[str, Any]:
        return {"wan": self.wan, "outage_link": self.outage.link, "outage_start_t": round(self.outage.start_t, 3),
                "outage_length_s": round(self.outage.length_s, 3), "declared": self.declared, "answered": self.answered,
                "via_wan": self.via_wan, "call_longest_gap_s": round(self.call_longest_gap_s, 3)}


def unix_time_of(replay: Replay, trace_t: float) -> float:
    """The wall-clock (time.time()) instant the replay reached trace time `trace_t`."""
    return replay.mono_at(trace_t) + (time.time() - time.monotonic())


def failover_at(router: ReferenceRouter, replay: Replay, probe: PassengerProbe, span: OutageSpan, wan: str) -> FailoverSample:
    """Measure the DUT's reaction to `span` (an outage already applied to `wan`'s link)."""
    h = router.config.health
    addresses = {name: w["address"] for name, w in router.status()["wans"].items()}
    by_address = {address: name for name, address in addresses.items()}
    t_cut = unix_time_of(replay, span.start_t)
    wait_s = h.detection_s + SLACK_S
    expect_declared = span.length_s >= h.detection_s + h.interval_s  # shorter outages may rightly pass unnoticed
    deadline = t_cut + wait_s
    down = None
    answer = None
    while time.time() < deadline and (answer is None or (expect_declared and down is None)):
        if down is None:
            found = [e for e in router.events(since=t_cut, event="wan_down") if e.get("wan") == wan]
            down = found[0] if found else None
        if answer is None:
            answer = next((a for a in sorted(probe.of("new"), key=lambda a: a.sent) if a.sent >= t_cut), None)
        time.sleep(0.1)
    detection = (down["time"] - t_cut if down else wait_s) if expect_declared else None
    switch = (answer.received - t_cut) if answer else wait_s
    gap = probe.longest_gap(t_cut, min(time.time(), t_cut + wait_s))
    return FailoverSample(wan=wan, outage=span, km=replay.plan.km_at(span.start_t), detection_s=detection,
                          declared=down is not None, switch_s=switch, answered=answer is not None,
                          via_wan=by_address.get(answer.via) if answer else None, call_longest_gap_s=gap)


@dataclass(frozen=True)
class FailbackSample:
    wan: str  # the preferred WAN, back after the outage
    outage: OutageSpan
    km: float | None
    failback_s: float  # link back -> first new flow answered through it again (the wait, if none came)
    returned: bool
    switches_back: int  # passenger switches to `wan` in the recovery window (more than one: flapping)
    window_s: float  # how long that window was (cut short by the next outage of the window)

    def context(self) -> dict[str, Any]:
        return {"wan": self.wan, "outage_link": self.outage.link, "outage_end_t": round(self.outage.end_t, 3),
                "returned": self.returned, "recovery_window_s": round(self.window_s, 3)}


RECOVERY_WINDOW_S = 10.0  # after failback: any further switch back and forth is flapping (as the nightly FO-2)


def failback_after(router: ReferenceRouter, replay: Replay, probe: PassengerProbe, span: OutageSpan, wan: str,
                   next_outage: OutageSpan | None) -> FailbackSample:
    """Measure the DUT's way back to `wan` once `span` (an outage it declared) has ended: FO-2's
    failback time and the switches back to it in the recovery window, which ends early at
    `next_outage` (the trace's next cut of the same link)."""
    h = router.config.health
    address = router.status()["wans"][wan]["address"]
    t_up = unix_time_of(replay, span.end_t)
    wait_s = h.up_after * h.interval_s + h.timeout_s + h.failback_hold_s + SLACK_S
    limit = t_up + wait_s if next_outage is None else min(t_up + wait_s, unix_time_of(replay, next_outage.start_t))
    back = None
    while back is None and time.time() < limit:
        back = probe.first_via("new", address, after=t_up)
        time.sleep(0.2)
    t_back = back.received if back else min(time.time(), limit)
    window_end = t_back + RECOVERY_WINDOW_S
    if next_outage is not None:
        window_end = min(window_end, unix_time_of(replay, next_outage.start_t))
    time.sleep(max(0.0, window_end - time.time()))
    switches = [e for e in router.status()["switches"]
                if t_up <= e["time"] <= window_end and e["class"] == "passengers" and e["to"] == wan]
    return FailbackSample(wan=wan, outage=span, km=replay.plan.km_at(span.end_t),
                          failback_s=(t_back - t_up) if back else wait_s, returned=back is not None,
                          switches_back=len(switches), window_s=max(0.0, window_end - t_up))


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
