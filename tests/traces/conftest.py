"""Helpers shared by the trace tests: small valid traces and hand-written CSV files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.traces import Trace, build_trace

RECORDINGS = Path(__file__).resolve().parents[1] / "data" / "recordings"
FJORD_2024 = RECORDINGS / "starlink-dish-fjordlink" / "2024-12-12-10-07-00-starlink.parquet.gzip"
FJORD_2025 = RECORDINGS / "starlink-dish-fjordlink" / "2025-01-30-18-02-49-starlink.parquet.gzip"
AUTOBAHN = RECORDINGS / "starlink-autobahn" / "throughput.csv"

CSV_META = """# source: recorded
# start_time: 2025-01-30T18:02:49+01:00
# time_zone: Europe/Berlin
# licence: own measurement
"""
CSV_HEADER = "t_s,link,direction,delay_ms,jitter_ms,loss,rate_bps,outage\n"
CSV_ROWS = """0,starlink,down,12.5,0.5,0,200000000,false
0,starlink,up,12.5,0.5,0,15000000,false
1,starlink,down,14.0,0.5,0.02,200000000,false
1,starlink,up,14.0,0.5,0,15000000,false
2,starlink,down,14.0,0.5,1,200000000,true
2,starlink,up,14.0,0.5,1,15000000,true
"""


def small_trace(rows: int = 10) -> Trace:
    table = pd.DataFrame({
        "t_s": [float(i) for i in range(rows) for _ in (0, 1)],
        "link": ["starlink"] * (2 * rows),
        "direction": ["down", "up"] * rows,
        "delay_ms": [12.0 + (i % 3) for i in range(rows) for _ in (0, 1)],
        "loss": [0.0] * (2 * rows),
        "rate_bps": [200_000_000, 15_000_000] * rows,
        "outage": [i == 4 for i in range(rows) for _ in (0, 1)],
    })
    return build_trace(table, {"source": "synthetic", "start_time": "2025-01-01T00:00:00+00:00",
                               "licence": "CC0-1.0", "provider": "starlink"})


@pytest.fixture
def write_csv(tmp_path: Path):
    def write(body: str, name: str = "trace.csv", meta: str = CSV_META) -> Path:
        path = tmp_path / name
        path.write_text(meta + body, encoding="utf-8")
        return path
    return write
