"""Regenerate the certification's trace windows (run once per plan version, then commit the files
and the hashes it prints into plan.yaml). The plan refuses any file whose sha256 differs, so a
regenerated window is a new plan version, never a silent change.

    .venv/bin/python -m scenarios.certification.make_traces
"""

from __future__ import annotations

from pathlib import Path

from bench.certification.windows import cut_window
from bench.traces import write_trace
from bench.traces.generator import generate
from bench.traces.importers import import_trace
from bench.traces.importers.common import sha256_file

HERE = Path(__file__).parent
REPO = HERE.parent.parent
FJORDLINK = REPO / "tests/data/recordings/starlink-dish-fjordlink/2025-01-30-18-02-49-starlink.parquet.gzip"


def main() -> None:
    out = HERE / "traces"
    # A oneweb outage of 12.6 s at km 263 (a cutting) on the synthetic overnight line: 10 s before it,
    # 27 s after. The LTE link is outside coverage there (in outage the whole window).
    almaty = generate("astana-almaty", seed=7)
    windows = [
        (cut_window(almaty, 12046.0, 12086.0, label="astana-almaty seed 7, oneweb outage at km 263"),
         out / "astana-almaty-s7-km263.parquet"),
    ]
    # 60 s of a real Starlink dish (FjordLink, CC BY 4.0) without loss or outage, its recorded
    # delay and the catalogue's rates (150/20 Mbit/s): the passenger goodput window.
    fjord = import_trace("starlink-dish", FJORDLINK, rate_down_bps=150_000_000, rate_up_bps=20_000_000)
    windows.append((cut_window(fjord, 20.0, 80.0, label="FjordLink 2025-01-30 18:02, 150/20 Mbit/s"),
                    out / "fjordlink-2025-01-30-s20-80.parquet"))
    for trace, path in windows:
        write_trace(trace, path)
        print(f"{path.relative_to(REPO)}: sha256 {sha256_file(path)} content {trace.meta.content_sha256} "
              f"({trace.duration_s:.0f} s, links {', '.join(trace.links)})")


if __name__ == "__main__":
    main()
