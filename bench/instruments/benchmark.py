"""How exactly an interruption lasts what was asked: the emulated supply over loopback VISA.

    python -m bench.instruments.benchmark --duration-ms 10 --count 50

Runs `count` interruptions through the real driver (pyvisa-py, TCP socket) against the emulated
supply in this process, and prints requested vs achieved at the driver vs off time seen by the
target (a RecordingPowerTarget): median, p95 and worst, in ms.
"""

from __future__ import annotations

import argparse
import statistics

from bench.instruments.emulated.server import ScpiSocketServer
from bench.instruments.emulated.supply import EmulatedPowerSupply, SupplyState
from bench.instruments.profiles import SupplyEvent, SupplyProfile, run_profile
from bench.instruments.supply import PowerSupply
from bench.instruments.targets import RecordingPowerTarget
from bench.lab.model import InstrumentConfig


def _figures(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"median {statistics.median(ordered):7.3f}  p95 {p95:7.3f}  worst {ordered[-1]:7.3f}"


def measure(duration_ms: float, count: int, gap_s: float) -> tuple[list[float], list[float]]:
    target = RecordingPowerTarget()
    supply = EmulatedPowerSupply(target, initial=SupplyState(voltage_v=24.0, current_limit_a=2.0, output_on=True))
    with ScpiSocketServer(supply) as server:
        config = InstrumentConfig(name="psu", kind="power_supply", resource=server.resource,
                                  voltage_range_v=(0.0, 30.0), current_range_a=(0.0, 3.0))
        profile = SupplyProfile(name=f"{duration_ms:g} ms x {count}", repeat=count, gap_s=gap_s,
                                events=[SupplyEvent(kind="interruption", duration_ms=duration_ms)])
        with PowerSupply(config) as psu:
            run = run_profile(psu, profile)
    return [r.achieved_ms for r in run.records], [s * 1000 for s in target.off_periods_s()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-ms", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--gap-s", type=float, default=0.05)
    args = parser.parse_args()
    driver, target = measure(args.duration_ms, args.count, args.gap_s)
    print(f"interruption {args.duration_ms:g} ms x {args.count} over loopback VISA (pyvisa-py socket)")
    print(f"  achieved at the driver (ms): {_figures(driver)}")
    print(f"  off at the target      (ms): {_figures(target)}")


if __name__ == "__main__":
    main()
