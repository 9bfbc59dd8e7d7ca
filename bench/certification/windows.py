"""Cutting a window out of a trace as a trace of its own (time from 0 at the window start), so a
certification can ship exactly the minutes it replays, hashed, instead of a whole trip."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.traces.replay import fmt_trace_time
from bench.traces.schema import Trace, build_trace


def cut_window(trace: Trace, t0: float, t1: float, *, label: str) -> Trace:
    """Rows of [t0, t1) shifted to start at 0; each link and direction starts with the row in force
    at t0. The metadata keeps the provenance and says which window of what this is (`label`)."""
    if not t1 > t0 >= 0:
        raise BenchError(f"window {t0}-{t1} is empty or negative", where=label, fix="give 0 <= from < to")
    parts = []
    for (_, _), rows in trace.table.groupby(["link", "direction"], sort=False):
        t = rows["t_s"].to_numpy(dtype=float)
        first = max(int(np.searchsorted(t, t0, side="right")) - 1, 0)
        last = int(np.searchsorted(t, t1, side="left"))
        if first >= last:
            continue
        part = rows.iloc[first:last].copy()
        part["t_s"] = np.maximum(part["t_s"].to_numpy(dtype=float), t0) - t0
        parts.append(part)
    if not parts:
        raise BenchError(f"the window {fmt_trace_time(t0)}-{fmt_trace_time(t1)} holds no rows", where=label,
                         fix="choose a window inside the trace")
    table = pd.concat(parts, ignore_index=True).sort_values(["t_s", "link", "direction"], kind="stable").reset_index(drop=True)
    meta = trace.meta.model_copy(update={
        "start_time": trace.meta.start_time + timedelta(seconds=t0),
        "derived_from": [*trace.meta.derived_from, f"window {t0:g}-{t1:g} s of trace sha256:{trace.meta.content_sha256}"],
        "notes": [*trace.meta.notes, f"{label}: window {fmt_trace_time(t0)}-{fmt_trace_time(t1)} of the source trace"],
        "content_sha256": None,
    })
    return build_trace(table, meta, where=label)
