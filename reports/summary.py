"""The measurements summary `skybench run` prints at the end of a run (from the results store)."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from bench.errors import BenchError
from bench.measure.measurement import position
from bench.measure.store import load_measurements
from bench.measure.verdict import SEVERITY, VERDICT_STYLE



def measurements_table(run_dir: Path) -> Table | None:
    """One row per measurement of the run, failures first; None when nothing was measured."""
    try:
        frame = load_measurements(run_dir)
    except BenchError:
        return None
    if frame.empty:
        return None
    frame = frame.assign(_rank=-frame["verdict"].map(SEVERITY)).sort_values(["_rank", "requirement", "time"], kind="stable")
    table = Table(title=f"measurements ({len(frame)})")
    for column in ("requirement", "quantity", "value", "limit", "verdict", "where", "test"):
        table.add_column(column)
    for row in frame.itertuples():
        trace = row.trace if isinstance(row.trace, str) and row.trace else None  # missing: None or NaN
        where = position(trace, _num(row.trace_time_s), _num(row.km)) or "-"
        table.add_row(row.requirement, escape(row.title), f"{row.value:.4g} {escape(row.units)}", escape(row.limit),
                      f"[{VERDICT_STYLE[row.verdict]}]{row.verdict}[/]", escape(where), escape(str(row.test).split("::", 1)[-1]))
    return table


def _num(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN: not located
