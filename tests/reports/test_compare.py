"""Two runs compared measurement by measurement (reports/compare.py, `skybench report compare`):
same verdict and within the requirement's marginal band agrees; a different verdict, a value out
of the band or a measurement one run lacks does not, and the command exits 1."""

from __future__ import annotations

from pathlib import Path

from bench.measure.catalogue import default_catalogue
from bench.measure.measurement import RunInfo, evaluate
from bench.measure.store import MeasurementStore
from reports.compare import compare_runs
from tests.conftest import skybench


def _run(root: Path, name: str, values: list[tuple[str, str, str, float]]) -> Path:
    catalogue = default_catalogue()
    store = MeasurementStore(root / name / "measurements", durable=False)
    run = RunInfo(run_id=name, suite="nightly", dut="dut", firmware="1")
    for test, req, quantity, value in values:
        units = catalogue.quantity(req, quantity)[1].units
        store.append(evaluate(catalogue, req, value, units=units, quantity=quantity, run=run, test=f"scenarios/x.py::{test}"))
    return root / name


def test_runs_within_their_bands_agree_and_differences_are_named(tmp_path: Path) -> None:
    a = _run(tmp_path, "embedded", [("t_fo", "FO-1", "detection", 3.1), ("t_fo", "FO-1", "detection", 3.3),
                                    ("t_thr", "THR-1", "goodput_ratio", 99.0), ("t_por", "POR-4", "bypasses", 0)])
    b = _run(tmp_path, "black-box", [("t_fo", "FO-1", "detection", 3.5), ("t_fo", "FO-1", "detection", 4.2),
                                     ("t_thr", "THR-1", "goodput_ratio", 96.0)])
    pairs = {(p.test, p.quantity, p.index): p for p in compare_runs(a, b)}
    assert pairs[("t_fo", "detection", 0)].agrees  # 0.4 s apart, the band is 10 % of 5 s
    second = pairs[("t_fo", "detection", 1)]
    assert second.same_verdict and not second.within_band and second.difference == 0.9000000000000004
    assert not pairs[("t_thr", "goodput_ratio", 0)].within_band  # 3 points apart, the band is 2
    assert pairs[("t_por", "bypasses", 0)].b_value is None and not pairs[("t_por", "bypasses", 0)].agrees
    proc = skybench("report", "compare", str(a), str(b))
    assert proc.returncode == 1 and "1 of 4 measurements agree" in proc.stdout, proc.stdout + proc.stderr
    assert skybench("report", "compare", str(a), str(a)).returncode == 0
