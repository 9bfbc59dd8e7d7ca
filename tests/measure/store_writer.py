"""A writer process for the store's kill test: appends measurements until killed, printing the id
of each one after its append returned (so the parent knows what must have survived)."""

from __future__ import annotations

import sys
from itertools import count

from bench.measure.catalogue import default_catalogue
from bench.measure.measurement import RunInfo, evaluate
from bench.measure.store import MeasurementStore


def main(directory: str, run_id: str) -> None:
    catalogue = default_catalogue()
    store = MeasurementStore(directory, durable=False)  # a killed process, not a power cut
    run = RunInfo(run_id=run_id, suite="nightly", dut="reference-router", firmware="fw-kill")
    for n in count():
        m = evaluate(catalogue, "FO-1", 0.01 * (n % 800), units="s", quantity="detection", run=run,
                     test="kill::writer", trace_time_s=float(n), km=n / 10, context={"n": n})
        store.append(m)
        print(m.measurement_id, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
