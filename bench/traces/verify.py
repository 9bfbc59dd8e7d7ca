"""Closed-loop fidelity: replay a trace onto the lab's links at speed 1, probe across each WAN path
and compare what the probes saw with what the trace says.

    result = verify_trace(trace, lab=lab, from_=120, to=300)      # or a fresh lab when lab=None
    print(result.passed, result.links["starlink"].ks_distance)

Per link mapped to a WAN:
1. Base RTT: what the lab adds to the link's delays (its own forwarding, the echo process, and
   the engines' wake-up when a held packet is due and their shaping path, which an unimpaired
   link never pays). Measured with the window's first rates, no loss and BASE_DELAY_MS in each
   direction, 200 probes at 100 Hz: base = median RTT - 2 x BASE_DELAY_MS. It is subtracted from every replay probe, so the comparison is of what the
   *emulated link* adds; the figure is reported.
2. The replay runs at speed 1 while a prober sends UDP echo probes at `rate_hz` (50 Hz default:
   20 ms resolution on outage edges) from the router's WAN address to the WAN's probe target.
3. Each probe's send time is turned into trace time with the replay clock. The trace's RTT for
   that probe is the uplink delay at the send instant plus the downlink delay when the probe
   reaches the ground side (trace delays are one-way per direction); it is lost in the trace when
   either leg falls in an outage.
4. Goals: median RTT within 1 ms of the trace's, two-sample Kolmogorov-Smirnov distance of the
   RTT distributions (measured vs trace, over probes the trace says arrive) under 0.05, and every
   trace outage of >= 1 s seen as a run of lost probes starting and ending within 100 ms of the
   trace's. A run's edges are the midpoints between the last answered and first lost probe (and
   the reverse), so the edge resolution is half the probe interval.
5. Loss: each probe is lost in the trace with probability p (outage: 1, else 1 - (1 - up loss)(1 -
   down loss)), so the lost count is a sum of Bernoulli trials: expected sum(p), standard
   deviation sqrt(sum(p(1 - p))). Goal: the measured count within 3 standard deviations, plus 2
   probes per trace outage (its two edges, at the probe interval's resolution), plus 0.1 % of
   the probes (what the lab itself loses on a busy host).
6. Rate, where the window gives a link rates: the window replays once more while one TCP flow
   per direction (iperf3, the router's WAN address to the ground, one direction after the other)
   fills the link; its goodput in 5 s windows (outside outages, seconds with loss, where TCP
   cannot fill a link whatever the emulator does, and the first window of each flow) is set
   against the trace's time-weighted rate over the same trace times times TCP's payload share of
   a frame. Goal: the median ratio between 0.85 (TCP keeps the link full) and 1.05 (the emulator
   never gives more than the trace).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.link.model import Impairment, LinkSpec
from bench.link.probe import TCP_PAYLOAD_SHARE
from bench.lab.prober import ProbeSample, UdpProber, start_echo_process
from bench.traces.replay import OutageSpan, Replay, ReplayPlan, lab_target, plan_replay
from bench.traces.schema import Trace

GOAL_MEDIAN_MS = 1.0
GOAL_KS = 0.05
GOAL_EDGE_S = 0.100
GOAL_MIN_OUTAGE_S = 1.0
GOAL_LOSS_SIGMA = 3.0
GOAL_LOSS_EDGE_PROBES = 2  # per trace outage
GOAL_LOSS_FLOOR = 0.001  # of the probes
GOAL_RATE_LOW = 0.85
GOAL_RATE_HIGH = 1.05
RATE_WINDOW_S = 5.0
ECHO_PORT = 7019
RATE_PORT = 5301
BASE_DELAY_MS = 10.0


@dataclass
class OutageCheck:
    start_t: float
    end_t: float
    seen: bool
    measured_start_t: float | None
    measured_end_t: float | None

    @property
    def length_s(self) -> float:
        return self.end_t - self.start_t

    @property
    def start_error_s(self) -> float | None:
        return None if self.measured_start_t is None else self.measured_start_t - self.start_t

    @property
    def end_error_s(self) -> float | None:
        return None if self.measured_end_t is None else self.measured_end_t - self.end_t

    def within(self, edge_s: float) -> bool:
        return (self.seen and self.start_error_s is not None and self.end_error_s is not None
                and abs(self.start_error_s) <= edge_s and abs(self.end_error_s) <= edge_s)


@dataclass
class RateWindow:
    direction: str  # down | up
    start_t: float  # trace time
    end_t: float
    trace_bps: float  # the trace's time-weighted rate over [start_t, end_t]
    goodput_bps: float  # what the TCP flow carried

    @property
    def ratio(self) -> float:
        return self.goodput_bps / (self.trace_bps * TCP_PAYLOAD_SHARE)


@dataclass
class LinkFidelity:
    link: str
    wan: str
    base_rtt_ms: float
    probes: int
    trace_median_ms: float
    measured_median_ms: float
    trace_p95_ms: float
    measured_p95_ms: float
    ks_distance: float
    trace_loss: float  # fraction of probes the trace says are lost (outages and loss)
    measured_loss: float
    expected_lost: float  # probes the trace loses, expected (sum of each probe's loss probability)
    lost_sd: float  # its standard deviation
    lost: int  # probes lost, measured
    outages: list[OutageCheck]
    extra_outages: list[tuple[float, float]]  # measured runs >= min outage with no trace outage
    # per-probe series for plots: trace time, trace RTT (nan: lost), measured RTT (nan: lost)
    series: dict[str, list[float]] = field(repr=False, default_factory=dict)
    rates: list[RateWindow] = field(default_factory=list)  # empty: the window gives this link no rate

    @property
    def median_error_ms(self) -> float:
        return self.measured_median_ms - self.trace_median_ms

    @property
    def loss_tolerance(self) -> float:
        """How far the measured lost count may be from the expected one (module doc, item 5)."""
        return GOAL_LOSS_SIGMA * self.lost_sd + GOAL_LOSS_EDGE_PROBES * len(self.outages) + GOAL_LOSS_FLOOR * self.probes

    @property
    def loss_within(self) -> bool:
        return abs(self.lost - self.expected_lost) <= self.loss_tolerance

    def rate_ratio(self, direction: str) -> float | None:
        """Median of goodput / (trace rate x TCP payload share) over the direction's windows."""
        ratios = [w.ratio for w in self.rates if w.direction == direction]
        return float(np.median(ratios)) if ratios else None

    def checked_outages(self, min_s: float) -> list[OutageCheck]:
        return [o for o in self.outages if o.length_s >= min_s]


@dataclass
class FidelityResult:
    trace: str
    t0: float
    t1: float
    rate_hz: float
    min_outage_s: float
    links: dict[str, LinkFidelity]
    replay_p99_error_ms: float

    def goals(self, link: LinkFidelity) -> dict[str, bool]:
        checked = link.checked_outages(self.min_outage_s)
        goals = {
            "median": abs(link.median_error_ms) <= GOAL_MEDIAN_MS,
            "ks": link.ks_distance < GOAL_KS,
            "outages_seen": all(o.seen for o in checked),
            "outage_edges": all(o.within(GOAL_EDGE_S) for o in checked),
            "loss": link.loss_within,
        }
        for direction in ("down", "up"):
            ratio = link.rate_ratio(direction)
            if ratio is not None:
                goals[f"rate_{direction}"] = GOAL_RATE_LOW <= ratio <= GOAL_RATE_HIGH
        return goals

    @property
    def passed(self) -> bool:
        return all(all(self.goals(link).values()) for link in self.links.values())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"trace": self.trace, "from_s": self.t0, "to_s": self.t1, "rate_hz": self.rate_hz,
                               "min_outage_s": self.min_outage_s, "replay_p99_error_ms": self.replay_p99_error_ms,
                               "goals": {"median_ms": GOAL_MEDIAN_MS, "ks": GOAL_KS, "outage_edge_s": GOAL_EDGE_S,
                                         "loss_sigma": GOAL_LOSS_SIGMA, "loss_edge_probes": GOAL_LOSS_EDGE_PROBES,
                                         "loss_floor": GOAL_LOSS_FLOOR, "rate_ratio": [GOAL_RATE_LOW, GOAL_RATE_HIGH],
                                         "rate_window_s": RATE_WINDOW_S},
                               "passed": self.passed, "links": {}}
        for name, link in self.links.items():
            data = {k: v for k, v in asdict(link).items() if k not in ("series", "outages", "rates")}
            data["median_error_ms"] = link.median_error_ms
            data["loss_tolerance"] = link.loss_tolerance
            data["rates"] = [{**asdict(w), "ratio": w.ratio} for w in link.rates]
            data["rate_ratio"] = {d: link.rate_ratio(d) for d in ("down", "up") if link.rate_ratio(d) is not None}
            data["outages"] = [{**asdict(o), "length_s": o.length_s, "start_error_s": o.start_error_s,
                                "end_error_s": o.end_error_s, "checked": o.length_s >= self.min_outage_s}
                               for o in link.outages]
            data["goals"] = self.goals(link)
            out["links"][name] = data
        return json.loads(json.dumps(out, default=float))


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    if len(a) == 0 or len(b) == 0:
        return 1.0
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def _direction_series(plan: ReplayPlan, link: str, direction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = [s for s in plan.steps if s.link == link and s.direction == direction]
    return (np.array([s.trace_t for s in steps]), np.array([s.impairment.delay_ms for s in steps]),
            np.array([s.impairment.outage for s in steps]))


def _at(series: tuple[np.ndarray, np.ndarray, np.ndarray], t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    times, delay, outage = series
    if len(times) == 0:
        return np.zeros(len(t)), np.zeros(len(t), dtype=bool)
    idx = np.clip(np.searchsorted(times, t, side="right") - 1, 0, None)
    return delay[idx], outage[idx]


def trace_rtts(plan: ReplayPlan, link: str, send_t: np.ndarray) -> np.ndarray:
    """The trace's RTT (ms) for probes sent at trace times `send_t`; NaN where the trace loses them."""
    up = _direction_series(plan, link, "up")
    down = _direction_series(plan, link, "down")
    d_up, out_up = _at(up, send_t)
    d_down, out_down = _at(down, send_t + d_up / 1000.0)
    rtt = d_up + d_down
    return np.where(out_up | out_down, np.nan, rtt)


def _lost_runs(send_t: np.ndarray, lost: np.ndarray) -> list[tuple[float, float, int, int]]:
    """Runs of consecutive lost probes: (start, end, first index, last index), the edges half-way
    between the last answered and first lost probe (and the reverse)."""
    padded = np.concatenate(([False], lost, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    runs = []
    for a, b in zip(edges[0::2], edges[1::2]):
        last = b - 1
        start = (send_t[a - 1] + send_t[a]) / 2 if a > 0 else send_t[a]
        end = (send_t[last] + send_t[last + 1]) / 2 if last + 1 < len(send_t) else send_t[last]
        runs.append((float(start), float(end), int(a), int(last)))
    return runs


def compare(plan: ReplayPlan, link: str, wan: str, samples: list[ProbeSample], replay: Replay, base_rtt_ms: float,
            *, min_outage_s: float = GOAL_MIN_OUTAGE_S) -> LinkFidelity:
    """Measured probes against the trace (see the module docstring)."""
    sent = np.array([s.sent_mono for s in samples])
    rtt = np.array([np.nan if s.rtt_s is None else s.rtt_s * 1000.0 - base_rtt_ms for s in samples])
    send_t = np.array([replay.trace_time(m) for m in sent])
    # only probes sent inside the window, once the window's first state is on the link (before,
    # the link still holds the base-RTT setting), and not in its last 0.5 s
    first = [a.applied_mono for a in replay.applied if a.loop == 0 and a.step.at_s == 0.0 and a.step.link == link]
    start_mono = max(first) if first else replay.mono_at(plan.t0)
    keep = (sent >= start_mono) & (send_t < plan.t1 - 0.5)
    sent, rtt, send_t = sent[keep], rtt[keep], send_t[keep]
    expected = trace_rtts(plan, link, send_t)
    if len(send_t) < 10:
        raise BenchError(f"only {len(send_t)} probes fell inside the window", where=f"verify {link}",
                         fix="verify a longer window")
    both = ~np.isnan(expected) & ~np.isnan(rtt)
    measured_ok = rtt[~np.isnan(rtt)]
    trace_ok = expected[~np.isnan(expected)]
    lost = np.isnan(rtt)
    checks: list[OutageCheck] = []
    runs = _lost_runs(send_t, lost)
    long_runs = [r for r in runs if r[1] - r[0] >= min(0.5, min_outage_s / 2)]
    matched: set[int] = set()
    spans: list[OutageSpan] = [o for o in plan.outages() if o.link == link and o.end_t <= plan.t1 - 0.5]
    for span in spans:
        overlapping = [i for i, r in enumerate(runs) if r[0] < span.end_t and r[1] > span.start_t]
        if not overlapping:
            checks.append(OutageCheck(span.start_t, span.end_t, False, None, None))
            continue
        covered = sum(min(runs[i][1], span.end_t) - max(runs[i][0], span.start_t) for i in overlapping)
        matched.update(i for i in overlapping)
        first, last = runs[overlapping[0]], runs[overlapping[-1]]
        checks.append(OutageCheck(span.start_t, span.end_t, covered >= 0.5 * span.length_s, first[0], last[1]))
    extra = [(r[0], r[1]) for i, r in enumerate(runs) if r in long_runs and i not in matched]
    del both
    p_lost = _expected_loss(plan, link, send_t)
    return LinkFidelity(
        link=link, wan=wan, base_rtt_ms=base_rtt_ms, probes=int(len(send_t)),
        trace_median_ms=float(np.median(trace_ok)) if len(trace_ok) else math.nan,
        measured_median_ms=float(np.median(measured_ok)) if len(measured_ok) else math.nan,
        trace_p95_ms=float(np.percentile(trace_ok, 95)) if len(trace_ok) else math.nan,
        measured_p95_ms=float(np.percentile(measured_ok, 95)) if len(measured_ok) else math.nan,
        ks_distance=ks_distance(measured_ok, trace_ok),
        trace_loss=float(np.mean(p_lost)),
        measured_loss=float(np.mean(lost)),
        expected_lost=float(np.sum(p_lost)), lost_sd=float(np.sqrt(np.sum(p_lost * (1.0 - p_lost)))), lost=int(np.sum(lost)),
        outages=checks, extra_outages=extra,
        series={"t": send_t.tolist(), "trace_rtt_ms": expected.tolist(), "measured_rtt_ms": rtt.tolist()},
    )


def _loss_series(plan: ReplayPlan, link: str, direction: str) -> tuple[np.ndarray, np.ndarray]:
    """The trace's loss on one link and direction from each step's time on (an outage: 1)."""
    steps = [s for s in plan.steps if s.link == link and s.direction == direction]
    return np.array([s.trace_t for s in steps]), np.array([1.0 if s.impairment.outage else s.values["loss"] for s in steps])


def _expected_loss(plan: ReplayPlan, link: str, send_t: np.ndarray) -> np.ndarray:
    """Per-probe probability the trace loses it: outage, else 1 - (1 - loss_up)(1 - loss_down)."""
    total = np.ones(len(send_t))
    for direction in ("up", "down"):
        times, loss = _loss_series(plan, link, direction)
        if len(times):
            total *= 1.0 - loss[np.clip(np.searchsorted(times, send_t, side="right") - 1, 0, None)]
    return 1.0 - total


def _base_rtt_ms(lab: Any, wan: Any, plan: ReplayPlan, link: str) -> float:
    def like_trace(direction: str) -> Impairment:
        first = next((s for s in plan.steps if s.link == link and s.direction == direction), None)
        return Impairment(delay_ms=BASE_DELAY_MS, rate_bps=first.impairment.rate_bps if first else None)

    lab.link(wan.name).set(LinkSpec(uplink=like_trace("up"), downlink=like_trace("down")))
    with UdpProber(lab.ns("router"), str(wan.addresses.probe_target), ECHO_PORT, source=str(wan.addresses.router.ip),
                   rate_hz=100.0, timeout_s=1.0) as prober:
        time.sleep(2.0)
    rtts = [s.rtt_s for s in prober.samples() if s.rtt_s is not None]
    if len(rtts) < 20:
        raise BenchError(f"the unimpaired path of WAN {wan.name} answered {len(rtts)} of {len(prober.samples())} probes",
                         where=f"lab {lab.prefix} WAN {wan.name}", fix="check the lab with `skybench lab status`")
    return float(np.median(rtts)) * 1000.0 - 2 * BASE_DELAY_MS


def verify_trace(trace: Trace, *, lab: Any = None, name: str = "trace", from_: float | str | None = None,
                 to: float | str | None = None, km: tuple[float, float] | str | None = None,
                 links: dict[str, str | None] | None = None, rate_hz: float = 50.0,
                 min_outage_s: float = GOAL_MIN_OUTAGE_S, log_dir: Path | None = None,
                 progress: Any = None, check_rate: bool = True) -> FidelityResult:
    """Replay `trace` (or a window) at speed 1 on `lab` (a fresh embedded lab when None) and compare;
    `check_rate`: also replay it per direction under a TCP flow where it has rates (item 6)."""
    if rate_hz < 10:
        raise BenchError(f"probe rate {rate_hz:g} Hz is below 10 Hz", where="verify", fix="probe at 10 Hz or more")
    plan = plan_replay(trace, speed=1.0, from_=from_, to=to, km=km, name=name)  # validated before the lab starts
    if lab is None:
        from bench.lab.lab import Lab

        with Lab() as fresh:
            return _verify_on(fresh, plan, links, rate_hz, min_outage_s, log_dir, progress, check_rate)
    return _verify_on(lab, plan, links, rate_hz, min_outage_s, log_dir, progress, check_rate)


def _verify_on(lab: Any, plan: ReplayPlan, links: dict[str, str | None] | None, rate_hz: float, min_outage_s: float,
               log_dir: Path | None, progress: Any, check_rate: bool) -> FidelityResult:
    target = lab_target(lab, plan, links)
    wans = {w.name: w for w in lab.plan.wans}
    mapped = {link: target.wan_of(link) for link in plan.links if target.wan_of(link)}
    echo = start_echo_process(lab, "ground", [(str(wans[w].addresses.probe_target), ECHO_PORT) for w in mapped.values()])
    saved = {w: lab.link(w).spec for w in mapped.values()}
    try:
        base = {link: _base_rtt_ms(lab, wans[wan], plan, link) for link, wan in mapped.items()}
        probers = {link: UdpProber(lab.ns("router"), str(wans[wan].addresses.probe_target), ECHO_PORT,
                                   source=str(wans[wan].addresses.router.ip), rate_hz=rate_hz).start()
                   for link, wan in mapped.items()}
        try:
            time.sleep(0.3)
            replay = Replay(plan, target, log_dir=log_dir).start()
            try:
                while not replay.wait(timeout=0.5):
                    if progress is not None:
                        progress(replay)
            finally:
                replay.stop()
        finally:
            for prober in probers.values():
                prober.stop()
        result_links = {link: compare(plan, link, wan, probers[link].samples(), replay, base[link],
                                      min_outage_s=min_outage_s) for link, wan in mapped.items()}
        errors = np.array([a.error_s * 1000.0 for a in replay.applied])
        rated = {link: wan for link, wan in mapped.items() if check_rate and has_rates(plan, link)}
        for direction in ("down", "up") if rated else ():
            for link, windows in _rate_pass(lab, plan, target, rated, wans, direction, progress).items():
                result_links[link].rates += windows
        return FidelityResult(trace=plan.name, t0=plan.t0, t1=plan.t1, rate_hz=rate_hz, min_outage_s=min_outage_s,
                              links=result_links, replay_p99_error_ms=float(np.percentile(errors, 99)))
    finally:
        for wan, spec in saved.items():
            try:
                lab.link(wan).set(spec)
            except BenchError:
                pass
        echo.terminate()
        try:
            echo.wait(timeout=3)
        except Exception:  # noqa: BLE001 - the lab's ledger kills it at teardown anyway
            echo.kill()
        if echo.stdout is not None:
            echo.stdout.close()


def has_rates(plan: ReplayPlan, link: str) -> bool:
    """The window gives `link` a rate somewhere (a recording of latency and loss only does not)."""
    return any(s.link == link and s.impairment.rate_bps for s in plan.steps)


def _lossy(series: list[tuple[np.ndarray, np.ndarray]], t_a: float, t_b: float) -> bool:
    """The trace loses something (loss or outage) at some time in [t_a, t_b] in either direction
    (`series`: `_loss_series` of each)."""
    for times, loss in series:
        first = max(int(np.searchsorted(times, t_a, side="right")) - 1, 0)
        last = int(np.searchsorted(times, t_b, side="left"))
        if np.any(loss[first:last] > 0):
            return True
    return False


def _rate_pass(lab: Any, plan: ReplayPlan, target: Any, links: dict[str, str], wans: dict[str, Any], direction: str,
               progress: Any) -> dict[str, list[RateWindow]]:
    """Replay the window once more while one TCP flow per link fills it in `direction`; its
    goodput cut into RATE_WINDOW_S windows against the trace's rate there (module doc, item 6)."""
    import threading
    from contextlib import ExitStack

    from bench.procedures.throughput import emulated_rate_bps
    from bench.traffic.iperf import IperfResult, IperfServers, iperf_client

    results: dict[str, tuple[float, IperfResult]] = {}
    failures: dict[str, BaseException] = {}
    seconds = max(plan.wall_s - 1.0, RATE_WINDOW_S * 2)
    with ExitStack() as stack:
        servers = {link: stack.enter_context(IperfServers(lab, str(wans[wan].addresses.probe_target), count=1, role="ground",
                                                          first_port=RATE_PORT)) for link, wan in links.items()}
        replay = Replay(plan, target).start()

        def flow(link: str) -> None:
            wan = wans[links[link]]
            launched = time.monotonic()
            try:
                results[link] = (launched, iperf_client(lab, lab.ns("router"), servers[link].ports[0], str(wan.addresses.probe_target),
                                                        seconds=seconds, omit_s=0, reverse=direction == "down",
                                                        bind=str(wan.addresses.router.ip)))
            except BaseException as exc:  # noqa: BLE001 - reported below, in the caller's thread
                failures[link] = exc

        try:
            threads = [threading.Thread(target=flow, args=(link,), daemon=True) for link in links]
            for thread in threads:
                thread.start()
            while not replay.wait(timeout=0.5):
                if progress is not None:
                    progress(replay)
            for thread in threads:
                thread.join(timeout=seconds + 60)
        finally:
            replay.stop()
    if failures:
        link, exc = next(iter(failures.items()))
        raise BenchError(f"the {direction}link rate flow over {link} failed: {exc}", where=f"verify {link}",
                         fix="check the lab with `skybench lab status`; a window that is out throughout has no rate to verify")
    out: dict[str, list[RateWindow]] = {}
    for link, (launched, result) in results.items():
        origin = replay.trace_time(launched)
        spans = [(o.start_t, o.end_t) for o in plan.outages() if o.link == link]
        loss_series = [_loss_series(plan, link, d) for d in ("up", "down")]
        groups: dict[int, list[dict[str, float]]] = {}
        for interval in result.raw.get("intervals", []):
            part = interval["sum"]
            groups.setdefault(int(part["start"] // RATE_WINDOW_S), []).append(part)
        windows = []
        for index, parts in sorted(groups.items()):
            start, end = parts[0]["start"], parts[-1]["end"]
            t_a, t_b = origin + start, origin + end
            if index == 0 or end - start < 0.8 * RATE_WINDOW_S or any(a < t_b and b > t_a for a, b in spans):
                continue  # slow start, a cut-off window, or an outage (no rate to compare)
            if _lossy(loss_series, t_a, t_b):
                continue  # TCP cannot fill a lossy link: that says nothing about the emulator's rate
            trace_bps = emulated_rate_bps(plan, link, direction, t_a, t_b)
            if not 0 < trace_bps < float("inf"):
                continue
            windows.append(RateWindow(direction, t_a, t_b, trace_bps, sum(p["bytes"] for p in parts) * 8 / (end - start)))
        out[link] = windows
    return out


# --- output -----------------------------------------------------------------------------------

def fidelity_table(result: FidelityResult) -> Any:
    """A rich Table comparing trace and measurement per link."""
    from rich.table import Table

    from bench.traces.replay import fmt_trace_time

    table = Table(title=f"closed-loop fidelity: {result.trace} {fmt_trace_time(result.t0)}-{fmt_trace_time(result.t1)} "
                        f"(probes at {result.rate_hz:g} Hz; replay step error p99 {result.replay_p99_error_ms:.2f} ms)")
    for column in ("link", "figure", "trace", "measured", "difference", "goal", ""):
        table.add_column(column, justify="right" if column in ("trace", "measured", "difference") else "left")

    def mark(ok: bool) -> str:
        return "[green]ok[/]" if ok else "[bold red]MISSED[/]"

    for name, link in result.links.items():
        goals = result.goals(link)
        label = f"{name} -> {link.wan}"
        table.add_row(label, "base RTT of the lab path (subtracted)", "", f"{link.base_rtt_ms:.3f} ms", "", "", "")
        table.add_row("", "median RTT", f"{link.trace_median_ms:.2f} ms", f"{link.measured_median_ms:.2f} ms",
                      f"{link.median_error_ms:+.2f} ms", f"within {GOAL_MEDIAN_MS:g} ms", mark(goals["median"]))
        table.add_row("", "p95 RTT", f"{link.trace_p95_ms:.2f} ms", f"{link.measured_p95_ms:.2f} ms",
                      f"{link.measured_p95_ms - link.trace_p95_ms:+.2f} ms", "", "")
        table.add_row("", "KS distance of RTT distributions", "", "", f"{link.ks_distance:.4f}",
                      f"under {GOAL_KS:g}", mark(goals["ks"]))
        table.add_row("", "probes lost", f"{link.expected_lost:.0f} ({link.trace_loss * 100:.2f} %)",
                      f"{link.lost} ({link.measured_loss * 100:.2f} %)", f"{link.lost - link.expected_lost:+.0f}",
                      f"within {link.loss_tolerance:.0f}", mark(goals["loss"]))
        for direction in ("down", "up"):
            ratio = link.rate_ratio(direction)
            windows = [w for w in link.rates if w.direction == direction]
            if ratio is not None:
                trace_mbps = float(np.median([w.trace_bps for w in windows])) / 1e6
                got_mbps = float(np.median([w.goodput_bps for w in windows])) / 1e6
                table.add_row("", f"{direction}link rate, median of {len(windows)} windows of {RATE_WINDOW_S:g} s",
                              f"{trace_mbps:.2f} Mbit/s", f"{got_mbps:.2f} Mbit/s", f"x{ratio:.3f} of TCP's best",
                              f"x{GOAL_RATE_LOW:g}-{GOAL_RATE_HIGH:g}", mark(goals[f"rate_{direction}"]))
        checked = link.checked_outages(result.min_outage_s)
        for o in link.outages:
            what = f"outage {fmt_trace_time(o.start_t)} ({o.length_s:.3f} s)"
            if not o.seen:
                table.add_row("", what, "yes", "not seen", "", "seen" if o in checked else "(shorter than goal)",
                              mark(False) if o in checked else "")
                continue
            diff = f"start {o.start_error_s * 1000:+.0f} ms, end {o.end_error_s * 1000:+.0f} ms"
            table.add_row("", what, "yes", "seen", diff, f"edges within {GOAL_EDGE_S * 1000:g} ms" if o in checked
                          else "(shorter than goal)", mark(o.within(GOAL_EDGE_S)) if o in checked else "")
        if not link.outages:
            table.add_row("", f"outages >= {result.min_outage_s:g} s", "none", "none", "", "", "")
        for start, end in link.extra_outages:
            table.add_row("", f"lost-probe run {fmt_trace_time(start)} ({end - start:.2f} s)", "no outage", "run",
                          "", "", "[yellow]extra[/]")
    return table


def plot_fidelity(result: FidelityResult, path: Path | str) -> Path:
    """RTT against trace time (trace and measured, outages shaded) and the two CDFs, per link."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    links = list(result.links.values())
    fig, axes = plt.subplots(len(links), 2, figsize=(13, 3.6 * len(links)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1]}, layout="constrained")
    for row, link in zip(axes, links):
        t = np.array(link.series["t"])
        trace_rtt = np.array(link.series["trace_rtt_ms"])
        measured = np.array(link.series["measured_rtt_ms"])
        ax, cdf = row
        ax.plot(t, trace_rtt, color="#1f77b4", lw=1.2, label="trace (up + down delay)", drawstyle="steps-post")
        ax.plot(t, measured, ".", color="#ff7f0e", ms=1.5, label=f"measured (minus base {link.base_rtt_ms:.2f} ms)")
        for o in link.outages:
            ax.axvspan(o.start_t, o.end_t, color="#d62728", alpha=0.25, lw=0)
        lost = np.isnan(measured)
        if lost.any():
            ax.plot(t[lost], np.full(lost.sum(), np.nanmin(trace_rtt) if np.isfinite(trace_rtt).any() else 0), "|",
                    color="#d62728", ms=6, label="probe lost")
        ax.set_xlabel("trace time (s)")
        ax.set_ylabel("RTT (ms)")
        ax.set_title(f"{link.link} on WAN {link.wan}: median {link.trace_median_ms:.2f} / {link.measured_median_ms:.2f} ms "
                     f"(trace / measured), KS {link.ks_distance:.3f}", loc="left", fontsize=10)
        ax.legend(loc="upper right", fontsize=8)
        for values, colour, label in ((trace_rtt, "#1f77b4", "trace"), (measured, "#ff7f0e", "measured")):
            v = np.sort(values[np.isfinite(values)])
            if len(v):
                cdf.plot(v, np.arange(1, len(v) + 1) / len(v), color=colour, label=label)
        cdf.set_xlabel("RTT (ms)")
        cdf.set_ylabel("CDF")
        cdf.legend(fontsize=8)
        cdf.grid(alpha=0.3)
    fig.suptitle(f"closed-loop fidelity of {result.trace}", fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
