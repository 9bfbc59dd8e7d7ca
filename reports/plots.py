"""The plots attached to a test: what the links did around the measurement, failure marked
(plot_measured_window), and what the passengers of a load run saw per class (plot_load_run).

One row per trace link: one-way delay and rate per direction against trace time (or km) over the
window the test replayed (padded so a failure at its edge is visible), outages shaded red as in
`skybench trace plot` (bench/traces/plot.py: same colours, same outage spans), and a vertical line
at each measurement's trace time, red for a failed requirement and labelled with its id.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.measure.measurement import Measurement  # noqa: E402
from bench.measure.verdict import VERDICT_COLOUR  # noqa: E402
from bench.traces.plot import COLOURS, _shade_outages, _x_values  # noqa: E402
from bench.traces.schema import Trace  # noqa: E402



def plot_measured_window(
    trace: Trace,
    measurements: Sequence[Measurement],
    path: Path | str,
    *,
    window_s: tuple[float, float] | None = None,
    x: Literal["time", "km"] = "time",
    title: str = "",
) -> Path:
    """Draw the trace over ``window_s`` (trace seconds; default: around the measurements) with
    each measurement marked; returns the PNG's path."""
    path = Path(path)
    located = [m for m in measurements if (m.km if x == "km" else m.trace_time_s) is not None]
    t0, t1 = window_s or _window(trace, located)
    pad = max(5.0, (t1 - t0) * 0.05)
    table = trace.table
    part = table[(table["t_s"] >= t0 - pad) & (table["t_s"] <= t1 + pad)]
    if part.empty:  # the window falls between rows: take the row in force and the next
        part = table[table["t_s"] <= t0].tail(len(trace.links) * 2)
    links = sorted(part["link"].unique())
    fig, axes = plt.subplots(2 * len(links), 1, sharex=True, figsize=(11, 2.3 * 2 * len(links) + 0.8), squeeze=False,
                             layout="constrained")
    for k, link in enumerate(links):
        ax_delay, ax_rate = axes[2 * k][0], axes[2 * k + 1][0]
        for direction in ("down", "up"):
            rows = part[(part["link"] == link) & (part["direction"] == direction)].reset_index(drop=True)
            if rows.empty:
                continue
            xs = _x_values(rows, x, 1.0)
            ax_delay.plot(xs, rows["delay_ms"].where(~rows["outage"]), drawstyle="steps-post", lw=0.9,
                          color=COLOURS[direction], label=f"{direction} delay")
            rate = rows["rate_bps"].astype("float64").where(~rows["outage"]) / 1e6
            if rate.notna().any():
                ax_rate.plot(xs, rate, drawstyle="steps-post", lw=0.9, color=COLOURS[direction], label=f"{direction} rate")
        shade = part[(part["link"] == link) & (part["direction"] == "down")].reset_index(drop=True)
        if not shade.empty:
            _shade_outages(shade, x, 1.0, (ax_delay, ax_rate), float(shade["t_s"].iloc[-1]))
        ax_delay.set_title(link, loc="left", fontsize=10, fontweight="bold")
        ax_delay.set_ylabel("delay (ms)")
        ax_rate.set_ylabel("rate (Mbit/s)")
        for ax in (ax_delay, ax_rate):
            ax.grid(True, alpha=0.3)
            ax.set_ylim(bottom=0)
            for m in located:
                where = m.km if x == "km" else m.trace_time_s
                ax.axvline(where, color=VERDICT_COLOUR[m.verdict], lw=1.8 if m.failed else 1.0,
                           ls="-" if m.failed else "--")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    top = axes[0][0]
    for m in located:
        where = m.km if x == "km" else m.trace_time_s
        top.annotate(f"{m.requirement} {m.verdict}", (where, 1.0), xycoords=("data", "axes fraction"),
                     xytext=(3, -12), textcoords="offset points", color=VERDICT_COLOUR[m.verdict], fontsize=9,
                     fontweight="bold" if m.failed else "normal")
    axes[-1][0].set_xlabel("km along the route" if x == "km" else "trace time (s)")
    failed = [m for m in measurements if m.failed]
    head = title or (failed[0].message if failed else f"{trace.meta.route or 'trace'}: measurements")
    fig.suptitle(_wrap(head) + "\nshaded red: link outage; vertical lines: measurements (red: failed)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _window(trace: Trace, located: Sequence[Measurement]) -> tuple[float, float]:
    times = [m.trace_time_s for m in located if m.trace_time_s is not None]
    if not times:
        return 0.0, float(trace.table["t_s"].max())
    return min(times) - 120.0, max(times) + 120.0


def _wrap(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_load_run(seconds: pd.DataFrame, path: Path | str, *, title: str = "",
                  marks: Sequence[tuple[float, str]] = ()) -> Path:
    """Per passenger class over the run (wall-clock seconds from its start): latency p95 (from the
    merged per-second histograms of every load process), requests and failures per second.
    `marks` are (unix time, label) lines to draw, e.g. the outages a replay applied."""
    from loadgen.recorder import hist_percentile

    path = Path(path)
    fig, (ax_lat, ax_req, ax_fail) = plt.subplots(3, 1, sharex=True, figsize=(11, 8), layout="constrained")
    if seconds.empty:
        ax_lat.text(0.5, 0.5, "the load run recorded no second", ha="center", transform=ax_lat.transAxes)
    else:
        unix = np.array([t.timestamp() for t in seconds["time"]])
        t0 = float(unix.min())
        frame = seconds.assign(t=unix - t0)
        for cls, rows in frame.groupby("cls", sort=True):
            per_second = rows.groupby("t")
            xs = np.array(sorted(per_second.groups))
            p95 = [hist_percentile(np.sum(np.stack([np.asarray(h, dtype=np.int64) for h in g["latency_hist"]]), axis=0), 0.95)
                   for _, g in per_second]
            ax_lat.plot(xs, p95, drawstyle="steps-post", lw=0.9, label=str(cls))
            ax_req.plot(xs, per_second["requests"].sum().to_numpy(), drawstyle="steps-post", lw=0.9, label=str(cls))
            ax_fail.plot(xs, per_second["failures"].sum().to_numpy(), drawstyle="steps-post", lw=0.9, label=str(cls))
        for unix_mark, label in marks:
            for ax in (ax_lat, ax_req, ax_fail):
                ax.axvline(unix_mark - t0, color="#d62728", lw=1.0, ls="--")
            ax_lat.annotate(label, (unix_mark - t0, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12),
                            textcoords="offset points", color="#d62728", fontsize=8)
    ax_lat.set_ylabel("latency p95 (ms)")
    ax_lat.set_yscale("log")
    ax_req.set_ylabel("requests / s")
    ax_fail.set_ylabel("failures / s")
    ax_fail.set_xlabel("seconds since the load run's first recorded second")
    for ax in (ax_lat, ax_req, ax_fail):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    fig.suptitle(_wrap(title or "passengers per class"), fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
