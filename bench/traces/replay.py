"""The replay clock: plays a trace's rows onto the lab's emulated links on schedule.

    plan = plan_replay(trace, speed=60, km=(400, 520))       # validates the whole window first
    with Replay(plan, lab_target(lab, plan)) as replay:        # its own scheduler thread
        replay.wait_for_km(430)
        print(replay.trace_time(), replay.km())

How it works:
- `plan_replay` turns the window's rows into steps, one per (link, direction) change, each with
  its wall-clock offset from the replay start (trace time / speed). Every row is converted to the
  link model (bench.link.model.Impairment) *before* the replay starts, so bad input fails with the
  row and column and no link has been touched: never a partially applied replay.
- The state holding at the window start is applied at offset 0 (the row in force at `from`).
- Time compression: at `speed` s, rows dt apart are dt/s apart on the wall clock. Rows of one
  (link, direction) closer than `min_step_s` (10 ms: several times what one change costs on the
  userspace backend, ~0.2 ms p99, times six link directions) are coalesced into one step: the
  step starts at the first row and holds until the next step; its delay, jitter, rate and burst
  length are the time-weighted means over the rows that are up; its outage flag is set when
  outage rows hold at least half the step; otherwise the outage time is folded into the loss
  (time-weighted mean with outage rows counted as loss 1), so the fraction of packets delivered
  is kept. The number of rows each step carries is in the step log (`rows`).
- The scheduler (a thread) sleeps on a condition until `spin_s` (3 ms) before a step's deadline,
  then spins on the monotonic clock, so sleep overshoot does not reach the link. Pause freezes
  the trace clock (the links keep the last applied state); resume shifts the schedule by the
  pause. With `loop`, the window plays again from its start.
- Each applied step goes to the step log (bench.traces.steplog) as it happens: trace time,
  scheduled and applied wall time, link, WAN, direction and values.

Trace directions map to the link API's: `up` (train to ground) is `uplink`, `down` is `downlink`.
Trace jitter is a standard deviation; the emulator's jitter is uniform +/- j, so j = sd x sqrt(3)
(same spread), capped at the delay, with order kept (a real link's delay wanders, it does not
reorder). Loss with `loss_burst_pkts` B becomes Gilbert-Elliott loss with r = 1/B and
p = loss x r / (1 - loss) (bad-state loss 1), whose long-run loss is `loss`.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.link.model import Impairment, validated_impairment
from bench.traces.schema import Trace
from bench.traces.steplog import StepLog

DEFAULT_MIN_STEP_S = 0.010
DEFAULT_SPIN_S = 0.003
REPLAY_PRIORITY = 5
LINK_DIRECTION = {"up": "uplink", "down": "downlink"}
SQRT3 = math.sqrt(3.0)


# --- the plan ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedStep:
    """One change of one link direction, at `at_s` wall seconds after the replay start."""

    at_s: float
    trace_t: float
    link: str
    direction: str  # down | up
    impairment: Impairment
    values: dict[str, Any]  # what the trace says (after coalescing): delay_ms, jitter_ms, loss, ...
    km: float | None
    rows: int  # trace rows this step carries (more than 1 when coalesced)


@dataclass(frozen=True)
class OutageSpan:
    link: str
    start_t: float  # trace time
    end_t: float

    @property
    def length_s(self) -> float:
        return self.end_t - self.start_t


@dataclass
class ReplayPlan:
    """A validated window of a trace, ready to play."""

    trace: Trace
    name: str
    t0: float
    t1: float
    speed: float
    steps: list[PlannedStep]
    min_step_s: float
    coalesced_rows: int  # rows merged into other rows' steps
    km_times: np.ndarray = field(repr=False)  # trace times with a known km (for km <-> time)
    km_values: np.ndarray = field(repr=False)

    @property
    def links(self) -> list[str]:
        return sorted({s.link for s in self.steps})

    @property
    def span_s(self) -> float:
        return self.t1 - self.t0

    @property
    def wall_s(self) -> float:
        return self.span_s / self.speed

    def km_at(self, trace_t: float) -> float | None:
        if len(self.km_times) == 0:
            return None
        return float(np.interp(trace_t, self.km_times, self.km_values))

    def time_at_km(self, km: float, after_t: float) -> float | None:
        """The first trace time >= after_t at which the train is at or past `km` (None: never)."""
        times, values = self.km_times, self.km_values
        if len(times) == 0:
            return None
        start = self.km_at(after_t)
        if start is not None and start >= km:
            return after_t
        later = np.flatnonzero((times > after_t) & (values >= km) & (times <= self.t1))
        if not len(later):
            return None
        j = int(later[0])
        if j == 0:
            return float(times[0])
        t_a, t_b, k_a, k_b = times[j - 1], times[j], values[j - 1], values[j]
        crossing = t_b if k_b == k_a else t_a + (km - k_a) / (k_b - k_a) * (t_b - t_a)
        return float(max(after_t, crossing))

    def outages(self) -> list[OutageSpan]:
        """Spans in which a link is out in either direction (the path carries no round trip)."""
        return self.spans_where(lambda direction, imp: imp.outage)

    def spans_where(self, holds: Callable[[str, Impairment], bool]) -> list[OutageSpan]:
        """Spans in which `holds(direction, impairment)` is true for either direction of a link."""
        spans: list[OutageSpan] = []
        for link in self.links:
            steps = [s for s in self.steps if s.link == link]
            events = sorted({s.trace_t for s in steps} | {self.t1})
            state: dict[str, bool] = {}
            start: float | None = None
            by_time: dict[float, list[PlannedStep]] = {}
            for s in steps:
                by_time.setdefault(s.trace_t, []).append(s)
            for t in events:
                for s in by_time.get(t, []):
                    state[s.direction] = bool(holds(s.direction, s.impairment))
                inside = any(state.values()) and t < self.t1
                if inside and start is None:
                    start = t
                elif not inside and start is not None:
                    spans.append(OutageSpan(link, start, t))
                    start = None
        return sorted(spans, key=lambda o: (o.start_t, o.link))


def parse_trace_time(value: float | int | str | None, *, option: str = "time") -> float | None:
    """Seconds from a number or 'HH:MM:SS[.fff]' / 'MM:SS' / '123.5' text."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        match = re.fullmatch(r"(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)", text)
        if match:
            hours, minutes, secs = match.groups()
            if int(minutes) >= 60 or float(secs) >= 60:
                raise BenchError(f"{option} {text!r}: minutes and seconds must be below 60", where=option,
                                 fix="write HH:MM:SS, e.g. 02:10:00")
            seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise BenchError(f"{option} {text!r} is not a time", where=option,
                                 fix="give seconds from the trace start (e.g. 7800) or HH:MM:SS (e.g. 02:10:00)") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise BenchError(f"{option} {value!r} is not a time >= 0", where=option,
                         fix="give seconds from the trace start or HH:MM:SS")
    return seconds


def parse_km_range(text: str | tuple[float, float] | None) -> tuple[float, float] | None:
    """'400-520' or (400, 520) -> (400.0, 520.0)."""
    if text is None:
        return None
    if isinstance(text, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[-:]\s*(\d+(?:\.\d+)?)\s*", text)
        if not match:
            raise BenchError(f"km range {text!r} is not A-B", where="--km", fix="write e.g. --km 400-520")
        a, b = float(match.group(1)), float(match.group(2))
    else:
        a, b = float(text[0]), float(text[1])
    if not (math.isfinite(a) and math.isfinite(b)) or a < 0 or b <= a:
        raise BenchError(f"km range {a:g}-{b:g}: the end must be after the start, both >= 0", where="--km",
                         fix="write e.g. --km 400-520")
    return a, b


def fmt_trace_time(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{seconds % 60:06.3f}"


def _km_series(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    table = trace.table[["t_s", "km"]].dropna()
    if table.empty:
        return np.array([]), np.array([])
    table = table.groupby("t_s", sort=True)["km"].mean()
    return table.index.to_numpy(dtype=float), table.to_numpy(dtype=float)


def _window(trace: Trace, from_: float | str | None, to: float | str | None,
            km: tuple[float, float] | str | None, km_times: np.ndarray, km_values: np.ndarray) -> tuple[float, float]:
    end = trace.duration_s
    km_range = parse_km_range(km)
    if km_range is not None:
        if from_ is not None or to is not None:
            raise BenchError("give a window by time (--from/--to) or by km (--km), not both", where="replay window",
                             fix="drop one of them")
        if len(km_times) == 0:
            raise BenchError("the trace has no km values: it cannot be windowed by km", where="--km",
                             fix="window it by time with --from/--to")
        a, b = km_range
        if a > km_values.max():
            raise BenchError(f"the trace never reaches km {a:g} (it covers km {km_values.min():g}-{km_values.max():g})",
                             where="--km", fix="choose a range inside the trace's km span (see `skybench trace info`)")
        t0 = _first_crossing(km_times, km_values, a)
        t1 = _first_crossing(km_times, km_values, b) if b <= km_values.max() else end
        return t0, t1
    t0 = parse_trace_time(from_, option="--from") or 0.0
    t1 = parse_trace_time(to, option="--to")
    t1 = end if t1 is None else t1
    if t0 >= end:
        raise BenchError(f"--from {fmt_trace_time(t0)} is at or after the trace's end ({fmt_trace_time(end)})",
                         where="--from", fix="choose a start inside the trace")
    if t1 <= t0:
        raise BenchError(f"--to {fmt_trace_time(t1)} is not after --from {fmt_trace_time(t0)}", where="--to",
                         fix="the window's end must come after its start")
    return t0, min(t1, end)


def _first_crossing(times: np.ndarray, values: np.ndarray, km: float) -> float:
    j = int(np.flatnonzero(values >= km)[0])
    if j == 0:
        return float(times[0])
    t_a, t_b, k_a, k_b = times[j - 1], times[j], values[j - 1], values[j]
    return float(t_b if k_b == k_a else t_a + (km - k_a) / (k_b - k_a) * (t_b - t_a))


def plan_replay(trace: Trace, *, speed: float = 1.0, from_: float | str | None = None, to: float | str | None = None,
                km: tuple[float, float] | str | None = None, links: Sequence[str] | None = None,
                min_step_s: float = DEFAULT_MIN_STEP_S, name: str = "trace") -> ReplayPlan:
    """Validate a window of `trace` and turn it into steps (see the module docstring)."""
    if not (isinstance(speed, (int, float)) and math.isfinite(speed) and 0 < speed <= 100_000):
        raise BenchError(f"speed {speed!r} is not a number from 0 to 100000", where="--speed",
                         fix="give e.g. --speed 1 (real time) or --speed 60 (an hour in a minute)")
    if min_step_s < 0:
        raise BenchError("min_step_s must be >= 0", where="replay")
    km_times, km_values = _km_series(trace)
    t0, t1 = _window(trace, from_, to, km, km_times, km_values)
    chosen = list(links) if links is not None else trace.links
    unknown = [link for link in chosen if link not in trace.links]
    if unknown:
        raise BenchError(f"the trace has no link {', '.join(unknown)}; it has {', '.join(trace.links)}",
                         where=name, fix="name links the trace holds")
    steps: list[PlannedStep] = []
    coalesced = 0
    table = trace.table
    trace_end = trace.duration_s
    for link in chosen:
        for direction in ("down", "up"):
            sel = np.flatnonzero(((table["link"] == link) & (table["direction"] == direction)).to_numpy())
            if not len(sel):
                continue
            rows = table.iloc[sel]
            t = rows["t_s"].to_numpy(dtype=float)
            first = max(int(np.searchsorted(t, t0, side="right")) - 1, 0)  # the row in force at t0
            # rows strictly before t1; to the trace's end, every row (its last row holds one step,
            # which float rounding can swallow for absurdly large times)
            last = len(t) if t1 >= trace_end else int(np.searchsorted(t, t1, side="left"))
            if first >= last:
                continue
            window_rows = rows.iloc[first:last]
            starts = np.maximum(window_rows["t_s"].to_numpy(dtype=float), t0)
            ends = np.append(starts[1:], t1)
            wall = (starts - t0) / speed
            groups = _groups(wall, min_step_s)
            for a, b in groups:
                values = _coalesce(window_rows.iloc[a:b], starts[a:b], ends[a:b])
                row_no = int(sel[first + a]) + 1
                impairment = to_impairment(values, where=f"{name} row {row_no}")
                steps.append(PlannedStep(at_s=float(wall[a]), trace_t=float(starts[a]), link=link, direction=direction,
                                         impairment=impairment, values=values,
                                         km=_km(km_times, km_values, float(starts[a])), rows=b - a))
                coalesced += b - a - 1
    if not steps:
        raise BenchError(f"the window {fmt_trace_time(t0)}-{fmt_trace_time(t1)} holds no rows", where=name,
                         fix="choose a window inside the trace")
    steps.sort(key=lambda s: (s.at_s, s.link, s.direction))
    return ReplayPlan(trace=trace, name=name, t0=t0, t1=t1, speed=float(speed), steps=steps, min_step_s=min_step_s,
                      coalesced_rows=coalesced, km_times=km_times, km_values=km_values)


def _km(times: np.ndarray, values: np.ndarray, t: float) -> float | None:
    return float(np.interp(t, times, values)) if len(times) else None


def _groups(wall: np.ndarray, min_step_s: float) -> list[tuple[int, int]]:
    """Index ranges [a, b) of rows sharing one step: each group starts at its first row and takes
    every following row less than `min_step_s` of wall time after that first row."""
    groups: list[tuple[int, int]] = []
    a = 0
    n = len(wall)
    while a < n:
        b = int(np.searchsorted(wall, wall[a] + min_step_s - 1e-9, side="left"))  # float slack
        b = max(b, a + 1)
        groups.append((a, b))
        a = b
    return groups


def _coalesce(rows: pd.DataFrame, starts: np.ndarray, ends: np.ndarray) -> dict[str, Any]:
    """The values of one step from one or more rows (rule in the module docstring)."""
    def cell(name: str, i: int) -> Any:
        value = rows[name].iloc[i]
        return None if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) else value

    if len(rows) == 1:
        rate = cell("rate_bps", 0)
        return {"delay_ms": float(rows["delay_ms"].iloc[0]), "jitter_ms": float(rows["jitter_ms"].iloc[0]),
                "loss": float(rows["loss"].iloc[0]), "loss_burst_pkts": cell("loss_burst_pkts", 0),
                "rate_bps": None if rate is None else int(rate), "outage": bool(rows["outage"].iloc[0])}
    weight = np.maximum(ends - starts, 1e-9)
    out = rows["outage"].to_numpy(dtype=bool)
    up = ~out
    up_weight = weight[up] if up.any() else weight

    def mean(name: str, mask: np.ndarray) -> float:
        values = rows[name].to_numpy(dtype=float)[mask]
        w = weight[mask]
        return float(np.average(values, weights=w))

    mask_up = up if up.any() else np.ones(len(rows), dtype=bool)
    outage = bool(weight[out].sum() >= 0.5 * weight.sum())
    loss = float(np.average(np.where(out, 1.0, rows["loss"].to_numpy(dtype=float)), weights=weight))
    rates = rows["rate_bps"].astype("float64").to_numpy()[mask_up]
    rate = None if np.isnan(rates).any() else int(round(float(np.average(rates, weights=up_weight))))
    bursts = rows["loss_burst_pkts"].to_numpy(dtype=float)[mask_up]
    burst_ok = ~np.isnan(bursts)
    burst = float(np.average(bursts[burst_ok], weights=up_weight[burst_ok])) if burst_ok.any() else None
    return {"delay_ms": mean("delay_ms", mask_up), "jitter_ms": mean("jitter_ms", mask_up),
            "loss": 1.0 if outage else min(loss, 1.0), "loss_burst_pkts": burst, "rate_bps": rate, "outage": outage}


def to_impairment(values: Mapping[str, Any], *, where: str) -> Impairment:
    """The link model's Impairment for one step's trace values (mapping in the module docstring)."""
    delay = float(values["delay_ms"])
    jitter = min(float(values["jitter_ms"]) * SQRT3, delay)
    loss = float(values["loss"])
    fields: dict[str, Any] = {"delay_ms": delay, "jitter_ms": jitter, "jitter_keeps_order": True,
                              "outage": bool(values["outage"])}
    burst = values.get("loss_burst_pkts")
    if burst is not None and 0 < loss < 1:
        r = 1.0 / float(burst)
        fields.update(ge_p=min(1.0, loss * r / (1.0 - loss)), ge_r=r, loss=0.0)
    else:
        fields["loss"] = loss
    rate = values.get("rate_bps")
    if rate is not None:
        if rate < 1000:
            raise BenchError(f"column rate_bps is {rate}: the link emulator needs at least 1000 bit/s",
                             where=f"{where} column rate_bps",
                             fix="raise the rate, or mark the row as an outage if the link carried nothing")
        fields["rate_bps"] = int(rate)
    return validated_impairment(fields, where=where)


# --- applying steps ---------------------------------------------------------------------------

class StepTarget(Protocol):
    """Where steps go: `apply` changes one link direction and returns when it has taken effect."""

    def wan_of(self, link: str) -> str | None: ...

    def apply(self, step: PlannedStep) -> float | None:
        """Apply; returns the monotonic time the change took effect if the link reports it."""
        ...


class LinksTarget:
    """Applies steps to emulated links (bench.link.EmulatedLink), by trace link name."""

    def __init__(self, links: Mapping[str, Any], wans: Mapping[str, str]) -> None:
        self._links = dict(links)  # trace link -> EmulatedLink
        self._wans = dict(wans)  # trace link -> lab WAN name

    def wan_of(self, link: str) -> str | None:
        return self._wans.get(link)

    def apply(self, step: PlannedStep) -> float | None:
        link = self._links.get(step.link)
        if link is None:
            return None
        link.set_direction(LINK_DIRECTION[step.direction], step.impairment)
        # the userspace engine says when it switched (its monotonic clock is ours): that, not the
        # end of the control round trip, is when the link changed
        return getattr(link.backend, "last_update_at", None)


class DryRunTarget:
    """Applies nothing: plays the schedule and logs it (to check a plan's timing without a lab)."""

    def wan_of(self, link: str) -> str | None:
        return None

    def apply(self, step: PlannedStep) -> float | None:
        return None


def parse_link_map(pairs: Sequence[str], option: str = "--map") -> dict[str, str | None]:
    """`LINK=WAN` pairs as given on a command line (`LINK=none` ignores a trace link) -> a
    mapping for map_links; a pair without `=` is a BenchError naming the option."""
    mapping: dict[str, str | None] = {}
    for pair in pairs:
        if "=" not in pair:
            raise BenchError(f"{option} {pair!r} is not TRACE_LINK=WAN", where=option, fix=f"write e.g. {option} starlink=oneweb")
        link, wan = (p.strip() for p in pair.split("=", 1))
        mapping[link] = None if wan.lower() in ("none", "-", "") else wan
    return mapping


def map_links(trace_links: Sequence[str], wans: Sequence[str], mapping: Mapping[str, str | None] | None = None,
              *, ignore_unmapped: bool = False) -> dict[str, str | None]:
    """Trace link -> lab WAN (None: explicitly ignored). Same names map to each other by default.

    A trace link that maps to no WAN is an error unless the mapping says None for it or
    `ignore_unmapped` is set; a WAN driven by two trace links is an error.
    """
    mapping = dict(mapping or {})
    stray = [k for k in mapping if k not in trace_links]
    if stray:
        raise BenchError(f"link mapping names {', '.join(stray)}, not in the trace (it has {', '.join(trace_links)})",
                         where="--map", fix="map the trace's own link names: TRACE_LINK=WAN")
    result: dict[str, str | None] = {}
    for link in trace_links:
        if link in mapping:
            wan = mapping[link]
        elif link in wans:
            wan = link
        elif ignore_unmapped:
            wan = None
        else:
            raise BenchError(f"trace link {link!r} has no WAN in the lab (the lab has {', '.join(wans)})",
                             where="replay link mapping",
                             fix=f"map it (--map {link}=WAN, or links={{'{link}': 'WAN'}}) or ignore it "
                                 f"(--map {link}=none, or ignore_unmapped=True)")
        if wan is not None and wan not in wans:
            raise BenchError(f"trace link {link!r} is mapped to WAN {wan!r}, which the lab does not have",
                             where="replay link mapping", fix=f"choose one of: {', '.join(wans)}")
        result[link] = wan
    used = [w for w in result.values() if w is not None]
    twice = sorted({w for w in used if used.count(w) > 1})
    if twice:
        raise BenchError(f"WAN {', '.join(twice)} is driven by more than one trace link", where="replay link mapping",
                         fix="map each trace link to its own WAN, or ignore one of them")
    return result


def lab_target(lab: Any, plan: ReplayPlan, mapping: Mapping[str, str | None] | None = None,
               *, ignore_unmapped: bool = False) -> LinksTarget:
    """A target driving the lab's sky links (lab.link(wan)) from the plan's trace links."""
    wans = map_links(plan.links, list(lab.links), mapping, ignore_unmapped=ignore_unmapped)
    return LinksTarget({link: lab.link(wan) for link, wan in wans.items() if wan is not None},
                       {link: wan for link, wan in wans.items() if wan is not None})


# --- the clock --------------------------------------------------------------------------------

@dataclass(frozen=True)
class AppliedStep:
    seq: int
    loop: int
    step: PlannedStep
    scheduled_mono: float
    applied_mono: float
    apply_s: float

    @property
    def error_s(self) -> float:
        return self.applied_mono - self.scheduled_mono


class Replay:
    """Plays a plan onto a target in its own thread (see the module docstring)."""

    def __init__(self, plan: ReplayPlan, target: StepTarget | None = None, *, loop: bool = False,
                 log_dir: Path | str | None = None, spin_s: float = DEFAULT_SPIN_S, durable_log: bool = True,
                 on_step: Callable[[AppliedStep], None] | None = None) -> None:
        self.plan = plan
        self.target = target if target is not None else DryRunTarget()
        self.loop = loop
        self.spin_s = spin_s
        self.replay_id = uuid.uuid4().hex[:12]
        self.log = StepLog(log_dir, replay_id=self.replay_id, durable=durable_log) if log_dir is not None else None
        self.log_file: Path | None = None
        self.applied: list[AppliedStep] = []
        self.error: BaseException | None = None
        self._on_step = on_step
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._base_mono: float | None = None  # monotonic time of trace time t0 (shifted by pauses)
        self._paused_at: float | None = None
        self._stopped = False
        self._finished = False
        self._mono_to_unix = time.time() - time.monotonic()

    # -- control --------------------------------------------------------------------------------
    def start(self) -> Replay:
        if self._thread is not None:
            raise BenchError("this replay has already started", where=self.plan.name, fix="create a new Replay")
        with self._cond:
            self._base_mono = time.monotonic() + 0.005  # a moment to get the thread going
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"replay:{self.plan.name}")
        self._thread.start()
        return self

    def pause(self) -> None:
        with self._cond:
            if self._paused_at is None and not self._finished:
                self._paused_at = time.monotonic()
                self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            if self._paused_at is not None:
                assert self._base_mono is not None
                self._base_mono += time.monotonic() - self._paused_at
                self._paused_at = None
                self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    @property
    def finished(self) -> bool:
        return self._finished

    def stop(self) -> None:
        """Stop playing (the links keep the last applied state) and close the step log."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._close_log()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the replay has played to its end (not with loop); True if it has."""
        if self._thread is None:
            raise BenchError("the replay has not started", where=self.plan.name, fix="call start() first")
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return not self._thread.is_alive()

    def __enter__(self) -> Replay:
        return self.start() if self._thread is None else self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _close_log(self) -> None:
        if self.log is not None:
            log, self.log = self.log, None
            self.log_file = log.close()

    # -- the clock ------------------------------------------------------------------------------
    def trace_time(self, mono: float | None = None) -> float:
        """Trace time (seconds from the trace start) now, or at monotonic time `mono`."""
        plan = self.plan
        with self._cond:
            base, paused_at = self._base_mono, self._paused_at
        if base is None:
            return plan.t0
        now = time.monotonic() if mono is None else mono
        if paused_at is not None and now > paused_at:
            now = paused_at
        pos = max(0.0, (now - base) * plan.speed)
        pos = pos % plan.span_s if self.loop else min(pos, plan.span_s)
        return plan.t0 + pos

    def km(self, mono: float | None = None) -> float | None:
        return self.plan.km_at(self.trace_time(mono))

    def mono_at(self, trace_t: float, loop: int = 0) -> float:
        """Monotonic time at which trace time `trace_t` (in pass `loop`) plays, pauses so far included."""
        with self._cond:
            base = self._base_mono
        if base is None:
            raise BenchError("the replay has not started", where=self.plan.name, fix="call start() first")
        return base + (loop * self.plan.span_s + trace_t - self.plan.t0) / self.plan.speed

    def wait_for_trace_time(self, trace_t: float, timeout: float | None = None) -> float:
        """Block until the trace clock reaches `trace_t` (this pass); returns the trace time."""
        if not self.plan.t0 <= trace_t <= self.plan.t1:
            raise BenchError(f"trace time {fmt_trace_time(trace_t)} is outside the replay window "
                             f"{fmt_trace_time(self.plan.t0)}-{fmt_trace_time(self.plan.t1)}", where=self.plan.name,
                             fix="wait for a time inside the window")
        limit = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self.error is not None:
                    raise self.error
                if self._base_mono is None:
                    raise BenchError("the replay has not started", where=self.plan.name, fix="call start() first")
                now = time.monotonic()
                loop_now = int(max(0.0, (now - self._base_mono) * self.plan.speed) // self.plan.span_s) if self.loop else 0
                target = self._base_mono + (loop_now * self.plan.span_s + trace_t - self.plan.t0) / self.plan.speed
                if self._paused_at is None and now >= target:
                    return self.trace_time()
                if self._stopped or (self._finished and not self.loop and now >= target):
                    raise BenchError(f"the replay stopped before trace time {fmt_trace_time(trace_t)}",
                                     where=self.plan.name)
                if limit is not None and now >= limit:
                    raise BenchError(f"timed out after {timeout:g} s waiting for trace time {fmt_trace_time(trace_t)} "
                                     f"(now {fmt_trace_time(self.trace_time())})", where=self.plan.name,
                                     fix="give a longer timeout or a faster --speed")
                wake = target - now if self._paused_at is None else 0.5
                if limit is not None:
                    wake = min(wake, limit - now)
                self._cond.wait(max(wake, 0.0005))

    def wait_for_km(self, km: float, timeout: float | None = None) -> float:
        """Block until the train reaches `km` in the trace; returns the trace time it did."""
        now_t = self.trace_time()
        here_km = self.plan.km_at(now_t)
        if here_km is not None and here_km > km + 0.001:
            raise BenchError(f"the train is already past km {km:g} (km {here_km:.3f} at {fmt_trace_time(now_t)})",
                             where=self.plan.name, fix="wait for a km ahead of the train, or start the replay earlier")
        target = self.plan.time_at_km(km, now_t)
        if target is None:
            here = self.plan.km_at(now_t)
            raise BenchError(f"km {km:g} does not come in the replay window after "
                             f"{fmt_trace_time(now_t)} (km {here if here is None else round(here, 3)})",
                             where=self.plan.name,
                             fix="choose a km inside the window (`skybench trace info` shows the km span)")
        return self.wait_for_trace_time(target, timeout)

    def wait_for_next_outage(self, link: str | None = None, timeout: float | None = None,
                             min_length_s: float = 0.0) -> OutageSpan:
        """Block until the next outage (of `link`, or any) has been applied; returns it."""
        now_t = self.trace_time()
        spans = [o for o in self.plan.outages() if o.start_t > now_t and (link is None or o.link == link)
                 and o.length_s >= min_length_s]
        if not spans:
            raise BenchError(f"no outage{' of ' + link if link else ''} comes in the replay window after "
                             f"{fmt_trace_time(now_t)}", where=self.plan.name,
                             fix="choose a window with an outage (`skybench trace info` lists them)")
        span = spans[0]
        self.wait_for_trace_time(span.start_t, timeout)
        # the clock has reached it; make sure the step itself has gone to the link
        limit = time.monotonic() + 1.0
        with self._cond:
            while not any(a.step.link == span.link and a.step.trace_t == span.start_t and a.step.impairment.outage
                          for a in self.applied[-64:]) and time.monotonic() < limit and not self._stopped:
                self._cond.wait(0.01)
        return span

    # -- the scheduler thread -------------------------------------------------------------------
    def _run(self) -> None:
        seq = 0
        loop = 0
        _realtime_priority()
        try:
            while True:
                for step in self.plan.steps:
                    scheduled = self._sleep_until(loop, step.at_s)
                    if scheduled is None:
                        return
                    began = time.monotonic()
                    took_effect = self.target.apply(step)
                    done = time.monotonic()
                    at = took_effect if took_effect is not None and began <= took_effect <= done else done
                    applied = AppliedStep(seq, loop, step, scheduled, at, done - began)
                    seq += 1
                    self._record(applied)
                if not self.loop:
                    return
                loop += 1
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the replay
            self.error = exc
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()

    def _sleep_until(self, loop: int, at_s: float) -> float | None:
        """Wait for a step's deadline (pauses move it); None when stopped. Returns the deadline."""
        offset = loop * self.plan.wall_s + at_s
        with self._cond:
            while True:
                if self._stopped:
                    return None
                if self._paused_at is not None:
                    self._cond.wait()
                    continue
                assert self._base_mono is not None
                deadline = self._base_mono + offset
                remaining = deadline - time.monotonic()
                if remaining <= self.spin_s:
                    break
                self._cond.wait(remaining - self.spin_s)
        # the last stretch: spin on the clock, since a sleep may overshoot by more than we allow
        while time.monotonic() < deadline:
            pass
        return deadline

    def _record(self, applied: AppliedStep) -> None:
        with self._cond:
            self.applied.append(applied)
            self._cond.notify_all()
        if self.log is not None:
            step = applied.step
            v = step.values
            self.log.append({
                "replay_id": self.replay_id, "seq": applied.seq, "loop": applied.loop, "trace_t_s": step.trace_t,
                "scheduled_unix_s": applied.scheduled_mono + self._mono_to_unix,
                "applied_unix_s": applied.applied_mono + self._mono_to_unix,
                "error_ms": applied.error_s * 1000.0, "apply_ms": applied.apply_s * 1000.0,
                "link": step.link, "wan": self.target.wan_of(step.link) or "", "direction": step.direction,
                "delay_ms": v["delay_ms"], "jitter_ms": v["jitter_ms"], "loss": v["loss"],
                "loss_burst_pkts": v["loss_burst_pkts"], "rate_bps": v["rate_bps"], "outage": v["outage"],
                "km": step.km, "rows": step.rows,
            })
        if self._on_step is not None:
            self._on_step(applied)


def _realtime_priority() -> None:
    """SCHED_FIFO for the scheduler thread (below the link engines' 10), so a due step preempts
    ordinary work: on a busy 2-core host a normal thread's wake-up latency is milliseconds. It
    spins at most spin_s per step and the kernel's RT throttling keeps 5 % for others; without
    the privilege it runs as a normal thread."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REPLAY_PRIORITY))  # 0: this thread
    except (OSError, AttributeError):
        pass


def timing_errors_ms(applied: Sequence[AppliedStep]) -> np.ndarray:
    return np.array([a.error_s * 1000.0 for a in applied])
