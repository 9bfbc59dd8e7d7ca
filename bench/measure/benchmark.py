"""How fast the results store takes and gives back measurements (prints figures; asserts nothing).

    python -m bench.measure.benchmark [--count 500] [--dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.measure.catalogue import default_catalogue
from bench.measure.measurement import RunInfo, evaluate
from bench.measure.store import STORE_DIR, MeasurementStore, load_measurements


def run(count: int, root: Path) -> None:
    catalogue = default_catalogue()
    for durable in (True, False):
        store = MeasurementStore(root / f"durable-{durable}" / STORE_DIR, durable=durable)
        run_info = RunInfo(run_id=f"bench-{durable}", suite="nightly", dut="reference-router")
        appends: list[float] = []
        for n in range(count):
            m = evaluate(catalogue, "OPS-1", 1.0 + n % 7 / 10, units="s", run=run_info, trace_time_s=float(n), km=n / 10)
            start = time.perf_counter()
            store.append(m)
            appends.append(time.perf_counter() - start)
        start = time.perf_counter()
        frame = load_measurements(root / f"durable-{durable}")
        load_small = time.perf_counter() - start
        start = time.perf_counter()
        store.compact()
        compact = time.perf_counter() - start
        start = time.perf_counter()
        load_measurements(root / f"durable-{durable}")
        load_merged = time.perf_counter() - start
        ms = sorted(a * 1000 for a in appends)
        print(
            f"fsync={'on ' if durable else 'off'} {count} appends: median {statistics.median(ms):.2f} ms, "
            f"p95 {ms[int(0.95 * (len(ms) - 1))]:.2f} ms, max {ms[-1]:.2f} ms; "
            f"read {len(frame)} small files {load_small * 1000:.0f} ms; compact {compact * 1000:.0f} ms; "
            f"read merged {load_merged * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--dir", type=Path, help="where to write (default: a temporary directory, removed after)")
    args = parser.parse_args()
    if args.dir is not None:
        run(args.count, args.dir)
        return
    with tempfile.TemporaryDirectory(prefix="skybench-store-") as tmp:
        run(args.count, Path(tmp))


if __name__ == "__main__":
    main()
