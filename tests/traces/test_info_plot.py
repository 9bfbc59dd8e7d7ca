"""trace info figures and the plot, on small traces with known answers and on a real recording."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from bench.errors import BenchError
from bench.traces import build_trace
from bench.traces.importers import import_trace
from bench.traces.info import summarize, weighted_percentile
from bench.traces.plot import plot_trace
from tests.traces.conftest import AUTOBAHN, FJORD_2025, small_trace


def _two_link_trace():
    rows = []
    for t in range(100):
        out = 10 <= t < 13 or 50 <= t < 60  # two outages: 3 s and 10 s
        for direction, rate in (("down", 100_000_000), ("up", 20_000_000)):
            rows.append({"t_s": float(t), "link": "oneweb", "direction": direction,
                         "delay_ms": 20.0 if t < 80 else 50.0, "loss": 0.0, "rate_bps": rate, "outage": out,
                         "km": t * 0.5})
        if t % 2 == 0:  # an LTE link sampled every 2 s, unlimited rate
            rows.append({"t_s": float(t), "link": "lte", "direction": "down", "delay_ms": 30.0, "loss": 0.01,
                         "rate_bps": None, "outage": False, "km": t * 0.5})
    return build_trace(pd.DataFrame(rows), {"source": "synthetic", "start_time": "2025-01-01T22:00:00+05:00",
                                            "licence": "CC0-1.0", "provider": "oneweb"})


def test_summary_figures() -> None:
    info = summarize(_two_link_trace())
    assert info["duration_s"] == 100.0
    assert info["km"] == {"from": 0.0, "to": 49.5}
    oneweb = info["links"]["oneweb"]
    # RTT = down + up delay while up: 40 ms for 67 s, 100 ms for 20 s -> p50 40, p95 100
    assert oneweb["rtt_ms"]["p50"] == 40.0 and oneweb["rtt_ms"]["p95"] == 100.0
    outages = oneweb["down"]["outages"]
    assert outages["count"] == 2 and outages["total_s"] == 13.0
    assert outages["length_s"]["max"] == 10.0 and outages["length_s"]["min"] == 3.0
    assert outages["length_histogram"]["2-5 s"] == 1 and outages["length_histogram"]["5-15 s"] == 1
    assert outages["fraction"] == pytest.approx(0.13)
    assert oneweb["down"]["rate_bps"]["p50"] == 100_000_000
    lte = info["links"]["lte"]
    assert lte["directions"] == ["down"] and lte["down"]["rate_bps"] == "unlimited"
    assert lte["rtt_ms"]["p50"] == 60.0  # one direction: 2 x delay
    assert lte["down"]["loss_mean"] == pytest.approx(0.01)


def test_weighted_percentile() -> None:
    import numpy as np
    values, weights = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 8.0])
    assert weighted_percentile(values, weights, 50) == 3.0
    assert weighted_percentile(values, weights, 10) == 1.0


def test_summary_of_real_recordings_matches_the_source() -> None:
    info = summarize(import_trace("starlink-dish", FJORD_2025))
    source = pd.read_parquet(FJORD_2025)["dish_status.pop_ping_latency_ms"]
    assert info["links"]["starlink"]["rtt_ms"]["p50"] == pytest.approx(source.median(), rel=0.01)
    assert info["links"]["starlink"]["down"]["outages"]["count"] == 1
    autobahn = summarize(import_trace("throughput-csv", AUTOBAHN))["links"]["starlink"]["down"]
    assert 210e6 < autobahn["rate_bps"]["p50"] < 225e6
    assert autobahn["outages"]["length_s"]["max"] == pytest.approx(14.0, abs=0.1)


@pytest.mark.parametrize("x", ["time", "km"])
def test_plot_writes_one_panel_pair_per_link(tmp_path: Path, x: str) -> None:
    path = plot_trace(_two_link_trace(), tmp_path / f"t-{x}.png", x=x)
    with Image.open(path) as img:
        width, height = img.size
        assert img.format == "PNG"
    one_link = plot_trace(small_trace(), tmp_path / "one.png")
    with Image.open(one_link) as img:
        assert img.size[1] < height * 0.75  # two links make a taller figure than one
    assert width > 800


def test_plot_km_needs_km(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="no km"):
        plot_trace(small_trace(), tmp_path / "x.png", x="km")
