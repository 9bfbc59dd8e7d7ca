"""The per-class load-run plot from per-second figures shaped as loadgen's recorder writes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from loadgen.recorder import HIST_BUCKETS, bucket
from reports.plots import plot_load_run


def _seconds() -> pd.DataFrame:
    rows = []
    start = pd.Timestamp("2026-11-25T02:00:00Z")
    for s in range(30):
        for process, cls, ms in (("w1", "browsing", 80.0), ("w2", "browsing", 90.0), ("w1", "call", 40.0)):
            hist = np.zeros(HIST_BUCKETS, dtype=np.int32)
            hist[bucket(ms * (20 if 10 <= s < 14 else 1))] = 5  # an outage: latency x20, failures
            rows.append({"time": start + pd.Timedelta(seconds=s), "process": process, "cls": cls, "requests": 5,
                         "failures": 3 if 10 <= s < 14 else 0, "latency_hist": hist.tolist()})
    return pd.DataFrame(rows)


def test_load_run_plot_draws_every_class(tmp_path: Path) -> None:
    png = plot_load_run(_seconds(), tmp_path / "classes.png", title="mixed, 3 users",
                        marks=[(pd.Timestamp("2026-11-25T02:00:10Z").timestamp(), "starlink out")])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_load_run_plot_of_an_empty_run_says_so(tmp_path: Path) -> None:
    empty = pd.DataFrame(columns=["time", "process", "cls", "requests", "failures", "latency_hist"])
    assert plot_load_run(empty, tmp_path / "empty.png").stat().st_size > 5_000
