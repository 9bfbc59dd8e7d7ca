"""`trace plot`: a PNG with one panel per link: delay and rate against time or km, outages shaded.

Each link's panel has two rows sharing the x axis: one-way delay (ms) per direction on top,
rate (Mbit/s) per direction below. Outage spans are shaded red on both rows. A synthetic
trace says so in the title.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import matplotlib

matplotlib.use("Agg")  # files only: the bench runs headless

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.errors import BenchError  # noqa: E402
from bench.traces.info import summarize  # noqa: E402
from bench.traces.schema import Trace  # noqa: E402

COLOURS = {"down": "#1f77b4", "up": "#ff7f0e"}
OUTAGE_COLOUR = "#d62728"


def plot_trace(trace: Trace, path: str | Path, *, x: Literal["time", "km"] = "time",
               title: str | None = None) -> Path:
    """Draw the trace to `path` (PNG); returns the path."""
    path = Path(path)
    table = trace.table
    if x == "km" and table["km"].isna().all():
        raise BenchError("the trace has no km column values: cannot plot against km", where="trace plot",
                         fix="plot against time (the default)")
    links = trace.links
    summary = summarize(trace)
    scale, unit = _time_scale(trace.duration_s)
    fig = plt.figure(figsize=(12, 3.9 * len(links) + 0.6), layout="constrained")
    panels = np.atleast_1d(fig.subfigures(len(links), 1, hspace=0.04))
    first_axis = None
    bottom_axes = []
    for k, link in enumerate(links):
        ax_delay, ax_rate = panels[k].subplots(2, 1, sharex=True)
        if first_axis is None:
            first_axis = ax_delay
        else:  # every panel on the same x range
            ax_delay.sharex(first_axis)
        bottom_axes.append(ax_rate)
        info = trace.meta.links.get(link)
        label = f"{link} ({info.provider}, {info.technology})" if info else link
        ax_delay.set_title(label, loc="left", fontsize=10, fontweight="bold")
        ax_delay.set_title(_link_figures(summary["links"][link]), loc="right", fontsize=9)
        down, up = trace.rows(link, "down"), trace.rows(link, "up")
        same_delay = (len(down) == len(up) and len(down) > 0
                      and np.array_equal(down["t_s"], up["t_s"]) and np.array_equal(down["delay_ms"], up["delay_ms"]))
        for direction in ("down", "up"):
            rows = trace.rows(link, direction)
            if rows.empty:
                continue
            xs = _x_values(rows, x, scale)
            delay = rows["delay_ms"].where(~rows["outage"])
            if not (same_delay and direction == "up"):
                ax_delay.plot(xs, delay, drawstyle="steps-post", lw=0.8, color=COLOURS[direction],
                              label="delay (down = up)" if same_delay else f"{direction} delay")
            rate = rows["rate_bps"].astype("float64").where(~rows["outage"]) / 1e6
            if rate.notna().any():
                ax_rate.plot(xs, rate, drawstyle="steps-post", lw=0.8, color=COLOURS[direction],
                             label=f"{direction} rate")
            else:
                ax_rate.text(0.01, 0.85 if direction == "down" else 0.7, f"{direction}: unlimited",
                             transform=ax_rate.transAxes, fontsize=8, color=COLOURS[direction])
        _shade_outages(trace.rows(link, "down") if not trace.rows(link, "down").empty else trace.rows(link, "up"),
                       x, scale, (ax_delay, ax_rate), trace.duration_s)
        ax_delay.set_ylabel("one-way delay\n(ms)")
        ax_rate.set_ylabel("rate\n(Mbit/s)")
        ax_delay.set_ylim(bottom=0)
        ax_rate.set_ylim(bottom=0)
        for ax in (ax_delay, ax_rate):
            ax.grid(True, alpha=0.3)
            handles, _ = ax.get_legend_handles_labels()
            if handles:
                ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    for ax in bottom_axes:
        ax.set_xlabel("km along the route" if x == "km" else f"trace time ({unit})", fontsize=9)
    fig.suptitle(f"{title or _title(trace)}\nshaded red: outage (down direction)", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _title(trace: Trace) -> str:
    meta = trace.meta
    kind = "SYNTHETIC" if meta.source == "synthetic" else "recorded"
    what = meta.route or (meta.derived_from[0].split(" sha256:")[0] if meta.derived_from else "trace")
    return (f"{what} [{kind}, {meta.provider}] start {meta.start_time:%Y-%m-%d %H:%M %Z}, "
            f"{trace.duration_s / 3600:.2f} h")


def _link_figures(link: dict) -> str:
    parts = []
    if link.get("rtt_ms"):
        parts.append(f"RTT p50 {link['rtt_ms']['p50']:.0f} ms, p95 {link['rtt_ms']['p95']:.0f} ms")
    first = link.get("down") or link.get("up")
    if first:
        outages = first["outages"]
        parts.append(f"{outages['count']} outage(s), {outages['total_s']:.0f} s")
    return "; ".join(parts)


def _time_scale(duration_s: float) -> tuple[float, str]:
    if duration_s > 3 * 3600:
        return 3600.0, "h"
    if duration_s > 600:
        return 60.0, "min"
    return 1.0, "s"


def _x_values(rows: pd.DataFrame, x: str, scale: float) -> np.ndarray:
    if x == "km":
        return rows["km"].ffill().bfill().to_numpy()
    return rows["t_s"].to_numpy() / scale


def _shade_outages(rows: pd.DataFrame, x: str, scale: float, axes: tuple, end_s: float) -> None:
    out = rows["outage"].to_numpy()
    if not out.any():
        return
    xs = _x_values(rows, x, scale)
    end = xs[-1] if x == "km" else end_s / scale
    xs_end = np.append(xs[1:], end)
    padded = np.concatenate(([False], out, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for a, b in zip(edges[0::2], edges[1::2]):
        # a very short outage on a long axis would be invisible as a span: draw at least a thin line
        for ax in axes:
            ax.axvspan(xs[a], xs_end[b - 1], color=OUTAGE_COLOUR, alpha=0.25, lw=0)
            ax.axvline(xs[a], color=OUTAGE_COLOUR, alpha=0.5, lw=0.6)
