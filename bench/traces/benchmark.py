"""Replay step timing: wall time applied minus scheduled, p50/p99, at speed 1 and speed 60.

    python -m bench.traces.benchmark                 # about 3.5 minutes: a fresh embedded lab
    python -m bench.traces.benchmark --json

Cases (target p99 < 5 ms): the FjordLink 2025-01-30 recording (one Starlink link, 1 Hz rows) at
speed 1 for 120 s and at speed 60 for 30 minutes of trace (30 s of wall time), and a synthetic
Astana-Borovoe trace (every link of the route at once) at speed 60 for 30 minutes of trace.
"Applied" is when the link engine switched (the userspace engine reports it); the time the
control round trip took is shown beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RECORDING = Path(__file__).resolve().parents[2] / "tests" / "data" / "recordings" / "starlink-dish-fjordlink" / \
    "2025-01-30-18-02-49-starlink.parquet.gzip"


def run(as_json: bool = False) -> dict[str, dict[str, float]]:
    from bench.lab.lab import Lab
    from bench.traces.generator import generate
    from bench.traces.importers import import_trace
    from bench.traces.replay import Replay, lab_target, plan_replay

    recording = import_trace("starlink-dish", RECORDING)
    synthetic = generate("astana-borovoe", seed=1)
    cases = [("fjordlink speed 1, 120 s", recording, 1.0, 240.0),
             ("fjordlink speed 60, 30 min", recording, 60.0, 120.0 + 1800.0),
             ("astana-borovoe all links, speed 60, 30 min", synthetic, 60.0, 120.0 + 1800.0)]
    results: dict[str, dict[str, float]] = {}
    with Lab() as lab:
        for name, trace, speed, to in cases:
            plan = plan_replay(trace, speed=speed, from_=120.0, to=to, name=name)
            replay = Replay(plan, lab_target(lab, plan, ignore_unmapped=True))
            with replay:
                replay.wait()
            error = np.array([a.error_s * 1000 for a in replay.applied])
            apply = np.array([a.apply_s * 1000 for a in replay.applied])
            results[name] = {"steps": float(len(error)), "links": float(len(plan.links)),
                             "coalesced_rows": float(plan.coalesced_rows),
                             "error_p50_ms": float(np.percentile(error, 50)), "error_p99_ms": float(np.percentile(error, 99)),
                             "error_max_ms": float(error.max()), "apply_p50_ms": float(np.percentile(apply, 50)),
                             "apply_p99_ms": float(np.percentile(apply, 99))}
            for a in lab.links.values():
                a.set(type(a.spec)())
    if as_json:
        print(json.dumps(results, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="replay step timing error (applied - scheduled), userspace backend; target p99 < 5 ms")
        for column in ("case", "steps", "p50 ms", "p99 ms", "max ms", "control round trip p50/p99 ms", ""):
            table.add_column(column)
        for name, r in results.items():
            table.add_row(name, f"{r['steps']:.0f}", f"{r['error_p50_ms']:.3f}", f"{r['error_p99_ms']:.3f}",
                          f"{r['error_max_ms']:.1f}", f"{r['apply_p50_ms']:.2f} / {r['apply_p99_ms']:.2f}",
                          "[green]ok[/]" if r["error_p99_ms"] < 5 else "[red]over[/]")
        Console().print(table)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    run(parser.parse_args().json)
