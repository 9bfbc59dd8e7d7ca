"""`trace info`: what a trace holds, as a plain dict (the CLI prints it, tests compare it).

Every statistic is time-weighted: a row counts for as long as it holds (until the next row of
its link and direction; the last row for the trace's typical step), so a trace sampled
irregularly is summarised by what the link did, not by how often it was sampled.
RTT at an instant is the down delay plus the up delay (2 x delay if one direction is missing),
over the time the link is up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench.traces.schema import Trace

OUTAGE_BUCKETS_S = (1.0, 2.0, 5.0, 15.0, 60.0)


def summarize(trace: Trace) -> dict[str, Any]:
    end = trace.duration_s
    meta = trace.meta
    return {
        "source": meta.source,
        "derived_from": list(meta.derived_from),
        "provider": meta.provider,
        "route": meta.route,
        "start_time": meta.start_time.isoformat(),
        "time_zone": meta.time_zone,
        "licence": meta.licence,
        "duration_s": round(end, 3),
        "rows": len(trace.table),
        "km": _km_span(trace.table),
        "links": {link: _link_summary(trace, link, end) for link in trace.links},
    }


def _link_summary(trace: Trace, link: str, end: float) -> dict[str, Any]:
    info = trace.meta.links.get(link)
    directions = {d: _with_durations(trace.rows(link, d), end) for d in ("down", "up")}
    directions = {d: rows for d, rows in directions.items() if len(rows)}
    out: dict[str, Any] = {
        "provider": info.provider if info else trace.meta.provider,
        "technology": info.technology if info else "other",
        "rate_origin": info.rate_origin if info else "",
        "directions": sorted(directions),
        "rtt_ms": _rtt(directions, end),
    }
    for direction, rows in directions.items():
        up = ~rows["outage"].to_numpy()
        rate = rows["rate_bps"].astype("float64").to_numpy()
        limited = up & np.isfinite(rate)
        out[direction] = {
            "delay_ms": _percentiles(rows["delay_ms"].to_numpy()[up], rows["dur"].to_numpy()[up], (50, 95, 99)),
            "rate_bps": (_percentiles(rate[limited], rows["dur"].to_numpy()[limited], (5, 50, 95))
                         if limited.any() else "unlimited"),
            "loss_mean": round(float(np.average(rows["loss"], weights=rows["dur"])), 6),
            "outages": _outages(rows),
        }
    return out


def _with_durations(rows: pd.DataFrame, end: float) -> pd.DataFrame:
    if rows.empty:
        return rows.assign(dur=pd.Series(dtype="float64"))
    t = rows["t_s"].to_numpy()
    return rows.assign(dur=np.diff(np.append(t, max(end, t[-1]))))


def _rtt(directions: dict[str, pd.DataFrame], end: float) -> dict[str, float] | None:
    if not directions:
        return None
    grid = np.unique(np.concatenate([rows["t_s"].to_numpy() for rows in directions.values()]))
    total = np.zeros(len(grid))
    up = np.ones(len(grid), dtype=bool)
    for rows in directions.values():
        pos = np.searchsorted(rows["t_s"].to_numpy(), grid, side="right") - 1
        valid = pos >= 0
        pos = np.clip(pos, 0, None)
        delay = rows["delay_ms"].to_numpy()[pos]
        total += delay * (2 if len(directions) == 1 else 1)
        up &= valid & ~rows["outage"].to_numpy()[pos]
    dur = np.diff(np.append(grid, max(end, grid[-1])))
    if not up.any():
        return None
    return _percentiles(total[up], dur[up], (50, 95, 99))


def _outages(rows: pd.DataFrame) -> dict[str, Any]:
    out = rows["outage"].to_numpy()
    dur = rows["dur"].to_numpy()
    padded = np.concatenate(([False], out, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    lengths = np.round(np.array([dur[a:b].sum() for a, b in zip(edges[0::2], edges[1::2])]), 3)
    total_time = float(dur.sum())
    summary: dict[str, Any] = {
        "count": int(len(lengths)),
        "total_s": round(float(lengths.sum()), 3),
        "fraction": round(float(lengths.sum()) / total_time, 6) if total_time > 0 else 0.0,
        "per_hour": round(len(lengths) / total_time * 3600, 3) if total_time > 0 else 0.0,
    }
    if len(lengths):
        summary["length_s"] = {"min": round(float(lengths.min()), 3),
                               "p50": round(float(np.percentile(lengths, 50)), 3),
                               "p95": round(float(np.percentile(lengths, 95)), 3),
                               "max": round(float(lengths.max()), 3)}
        edges_s = (0.0, *OUTAGE_BUCKETS_S, np.inf)
        labels = [f"<{OUTAGE_BUCKETS_S[0]:g} s"] + [f"{a:g}-{b:g} s" for a, b in
                                                     zip(OUTAGE_BUCKETS_S, OUTAGE_BUCKETS_S[1:])] + \
                 [f">={OUTAGE_BUCKETS_S[-1]:g} s"]
        counts, _ = np.histogram(lengths, bins=edges_s)
        summary["length_histogram"] = dict(zip(labels, (int(c) for c in counts)))
    return summary


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The value below which q % of the total weight lies."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    if cum[-1] <= 0:
        return float(np.percentile(v, q))
    return float(v[min(np.searchsorted(cum, q / 100.0 * cum[-1], side="left"), len(v) - 1)])


def _percentiles(values: np.ndarray, weights: np.ndarray, qs: tuple[int, ...]) -> dict[str, float] | None:
    if len(values) == 0:
        return None
    return {f"p{q}": round(weighted_percentile(values, weights, q), 3) for q in qs}


def _km_span(table: pd.DataFrame) -> dict[str, float] | None:
    km = table["km"].dropna()
    if km.empty:
        return None
    return {"from": round(float(km.min()), 3), "to": round(float(km.max()), 3)}
