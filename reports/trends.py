"""Each requirement's value over the last N runs, and regressions against a baseline.

Input: the results store (``bench.measure.store.load_measurements``) under a results root. Per
run and (requirement, quantity), the run's **worst** value counts (the highest for a ``max``
limit, the lowest for ``min``, the farthest from the range's middle for ``range``, a wrong value
for ``equals``): a night is as good as its worst measurement.

The baseline is one run (``baseline_run``) or, by default, the median of the ``baseline_median``
runs before the latest. The latest run is flagged as a regression when

- ``limit``: it fails the limit and the baseline did not (it moved past the limit), or
- ``worse``: it is worse than the baseline by more than the tolerance, the larger of the
  quantity's marginal band (in its units) and the baseline runs' noise (3 x their median absolute
  deviation). A quantity without a band or noise (``equals``) regresses on any worse value.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.measure.catalogue import default_catalogue
from bench.measure.model import Catalogue
from bench.measure.store import load_measurements
from bench.measure.verdict import VERDICT_COLOUR

Flag = Literal["limit", "worse", ""]


@dataclass
class Trend:
    requirement: str
    quantity: str
    title: str
    units: str
    limit: str
    limit_kind: str
    limit_low: float | None
    limit_high: float | None
    runs: list[str]  # run ids, oldest first (the last N that measured it)
    values: list[float | None]  # the run's worst value, None: not measured in that run
    verdicts: list[str | None]
    baseline: float | None = None
    baseline_from: str = ""
    latest: float | None = None
    change: float | None = None  # latest - baseline, in units
    tolerance: float | None = None
    flag: Flag = ""
    reason: str = ""
    notes: list[str] = field(default_factory=list)


def badness(value: float, kind: str, low: float | None, high: float | None) -> float:
    """Larger is worse: how the value sits against its limit, in the quantity's units."""
    if kind == "max":
        return value
    if kind == "min":
        return -value
    if kind == "range" and low is not None and high is not None:
        return abs(value - (low + high) / 2)
    if kind == "equals" and low is not None:
        return abs(value - low)
    return 0.0


def run_order(frame: pd.DataFrame) -> list[str]:
    """Run ids ordered by their first measurement's time."""
    return list(frame.groupby("run_id")["time"].min().sort_values(kind="stable").index)


def worst_per_run(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, requirement, quantity): the run's worst measurement of it."""
    frame = frame.copy()
    frame["_badness"] = [badness(v, k, lo, hi) for v, k, lo, hi in
                         zip(frame["value"], frame["limit_kind"], frame["limit_low"], frame["limit_high"])]
    order = frame.sort_values(["_badness", "time"], ascending=[False, True], kind="stable")
    return order.drop_duplicates(subset=["run_id", "requirement", "quantity"], keep="first").drop(columns="_badness")


def compute_trends(root: Path | str, *, last: int = 10, baseline_run: str | None = None, baseline_median: int = 5,
                   catalogue: Catalogue | None = None) -> list[Trend]:
    frame = load_measurements(root)
    if frame.empty:
        raise BenchError("no measurements under this results directory", where=str(root),
                         fix="run a suite with --results-dir (skybench run writes results/<run>/measurements/)")
    order = run_order(frame)
    if baseline_run is not None and baseline_run not in order:
        matches = [r for r in order if baseline_run in r]
        if len(matches) != 1:
            raise BenchError(f"no single run {baseline_run!r} in the store", where=str(root),
                             fix=f"give a run id (or a unique part of one); runs: {', '.join(order[-8:])}")
        baseline_run = matches[0]
    catalogue = catalogue or _catalogue_of(Path(root), order[-1])
    worst = worst_per_run(frame)
    trends = []
    for (req, quantity), rows in worst.groupby(["requirement", "quantity"], sort=True):
        by_run = rows.set_index("run_id")
        runs = [r for r in order if r in by_run.index]
        shown = runs[-last:]
        latest_row = by_run.loc[shown[-1]]
        trend = Trend(
            requirement=str(req), quantity=str(quantity), title=str(latest_row["title"]), units=str(latest_row["units"]),
            limit=str(latest_row["limit"]), limit_kind=str(latest_row["limit_kind"]),
            limit_low=_number(latest_row["limit_low"]), limit_high=_number(latest_row["limit_high"]), runs=shown,
            values=[float(by_run.loc[r, "value"]) for r in shown], verdicts=[str(by_run.loc[r, "verdict"]) for r in shown],
        )
        trend.latest = trend.values[-1]
        _judge(trend, by_run, runs, baseline_run, baseline_median, catalogue)
        trends.append(trend)
    return trends


def _judge(trend: Trend, by_run: pd.DataFrame, runs: list[str], baseline_run: str | None, k: int, catalogue: Catalogue) -> None:
    latest_id = runs[-1]
    row = by_run.loc[latest_id]
    kind, low, high = trend.limit_kind, trend.limit_low, trend.limit_high
    if baseline_run is not None:
        if baseline_run == latest_id or baseline_run not in by_run.index:
            trend.notes.append(f"baseline run {baseline_run} did not measure it" if baseline_run != latest_id else "the baseline is the latest run")
            return
        base_runs = [baseline_run]
        trend.baseline_from = baseline_run
    else:
        base_runs = runs[:-1][-k:]
        if not base_runs:
            trend.notes.append("no earlier run to compare with")
            return
        trend.baseline_from = f"median of {len(base_runs)} run(s) before the latest"
    base_values = np.array([float(by_run.loc[r, "value"]) for r in base_runs])
    baseline = float(np.median(base_values))
    trend.baseline = baseline
    trend.change = float(trend.latest) - baseline  # type: ignore[arg-type]
    band = _band(catalogue, trend.requirement, trend.quantity, low, high, kind)
    noise = 3.0 * float(np.median(np.abs(base_values - baseline))) if len(base_values) >= 3 else 0.0
    trend.tolerance = max(band, noise)
    base_failed = [str(by_run.loc[r, "verdict"]) == "fail" for r in base_runs]
    worse_by = badness(trend.latest, kind, low, high) - badness(baseline, kind, low, high)  # type: ignore[arg-type]
    if row["verdict"] == "fail" and not all(base_failed):
        trend.flag, trend.reason = "limit", f"fails its limit ({trend.limit}); the baseline passed"
    elif worse_by > trend.tolerance + 1e-12 or (trend.tolerance == 0 and worse_by > 0):
        trend.flag = "worse"
        trend.reason = (f"worse than the baseline by {abs(trend.change):.4g} {trend.units} "
                        f"(tolerance {trend.tolerance:.4g} {trend.units}: {'band' if band >= noise else 'noise'})")


def _band(catalogue: Catalogue, req: str, quantity: str, low: float | None, high: float | None, kind: str) -> float:
    try:
        _, spec = catalogue.quantity(req, quantity)
    except BenchError:
        return 0.0
    if spec.marginal is None:
        return 0.0
    bound = high if kind == "max" else low if kind == "min" else (high if high is not None else low)
    return float(spec.marginal.width(bound or 0.0))


def _catalogue_of(root: Path, run_id: str) -> Catalogue:
    """The catalogue the latest run used (its requirements.json), else the bench's default."""
    for path in sorted(root.rglob("requirements.json")):
        try:
            coverage = json.loads((path.parent / "requirements-coverage.json").read_text())
        except (OSError, ValueError):
            continue
        if coverage.get("run_id") == run_id:
            try:
                return Catalogue.model_validate_json(path.read_text())
            except ValueError:
                break
    return default_catalogue()


def trends_json(trends: list[Trend]) -> str:
    return json.dumps([asdict(t) for t in trends], indent=2)


def plot_trends(trends: list[Trend], path: Path | str) -> Path:
    """One small panel per (requirement, quantity): value per run, limit, baseline, regressions red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    n = max(1, len(trends))
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 2.8 * rows), squeeze=False, layout="constrained")
    for ax, trend in zip(axes.flat, trends):
        xs = list(range(len(trend.runs)))
        ys = [np.nan if v is None else v for v in trend.values]
        ax.plot(xs, ys, marker="o", color="#1f77b4", lw=1.2)
        for x, y, verdict in zip(xs, ys, trend.verdicts):
            ax.plot([x], [y], marker="o", color=VERDICT_COLOUR.get(verdict or "", VERDICT_COLOUR["pass"]))
        for bound in _limit_lines(trend):
            ax.axhline(bound, color="#d62728", ls="--", lw=1, label="limit")
        if trend.baseline is not None:
            ax.axhline(trend.baseline, color="#7f7f7f", ls=":", lw=1, label="baseline")
        if trend.flag:
            ax.annotate(f"REGRESSION ({trend.flag})", (xs[-1], ys[-1]), xytext=(-10, 8), textcoords="offset points",
                        ha="right", color="#d62728", fontweight="bold", fontsize=8)
        ax.set_title(f"{trend.requirement} {trend.title}", fontsize=9, loc="left",
                     color="#d62728" if trend.flag else "black")
        ax.set_ylabel(trend.units)
        ax.set_xticks(xs, [_short(r) for r in trend.runs], rotation=30, ha="right", fontsize=7)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(trends):]:
        ax.set_visible(False)
    fig.suptitle("requirements over the last runs (red dashed: limit, dotted: baseline; red points: failed)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _limit_lines(trend: Trend) -> list[float]:
    return [b for b in (trend.limit_low, trend.limit_high) if b is not None] if trend.limit_kind != "equals" else []


def _number(value: object) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)  # type: ignore[arg-type]


def _short(run_id: str) -> str:
    return run_id if len(run_id) <= 22 else run_id[:22] + "…"
