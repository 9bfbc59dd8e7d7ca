"""`skybench report trends`: values per run from the real results store, regressions flagged."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import _register, app
from bench.measure.catalogue import default_catalogue
from bench.measure.measurement import RunInfo, evaluate
from bench.measure.store import MeasurementStore
from reports.trends import compute_trends

CATALOGUE = default_catalogue()
START = datetime(2026, 1, 1, 2, 0, tzinfo=timezone.utc)


def write_night(root: Path, night: int, values: dict[tuple[str, str], list[float]], units: dict[str, str]) -> str:
    run_id = f"2026010{night}-nightly"
    store = MeasurementStore(root / run_id / "measurements", durable=False)
    for (req, quantity), measured in values.items():
        for i, value in enumerate(measured):
            store.append(evaluate(CATALOGUE, req, value, units=units[req], quantity=quantity, run=RunInfo(run_id=run_id, suite="nightly"),
                                  test=f"test_{req}", time=START + timedelta(days=night, seconds=i)))
    store.compact()
    return run_id


UNITS = {"FO-1": "s", "THR-1": "%", "POR-4": "count"}


@pytest.fixture
def nights(tmp_path: Path) -> Path:
    # Five steady nights: FO-1 detection about 3 s (limit 5 s, band 0.5 s), THR-1 about 97.5 %.
    steady = [3.0, 3.1, 2.9, 3.05, 3.0]
    for night, fo1 in enumerate(steady, 1):
        write_night(tmp_path, night, {("FO-1", "detection"): [fo1, fo1 - 0.4], ("THR-1", "goodput_ratio"): [97.5 + 0.1 * (night % 2)],
                                      ("POR-4", "bypasses"): [0]}, UNITS)
    return tmp_path


def test_injected_regression_is_flagged(nights: Path) -> None:
    # Night 6: FO-1 detection 4.2 s still passes its 5 s limit, but is 1.2 s worse than the baseline
    # (band 0.5 s); THR-1 moves by noise only; POR-4 lets one bypass through (fails its limit).
    write_night(nights, 6, {("FO-1", "detection"): [2.5, 4.2], ("THR-1", "goodput_ratio"): [97.45], ("POR-4", "bypasses"): [1]}, UNITS)
    trends = {(t.requirement, t.quantity): t for t in compute_trends(nights, last=10)}
    fo1 = trends[("FO-1", "detection")]
    assert fo1.values == [3.0, 3.1, 2.9, 3.05, 3.0, 4.2]  # the worst of each night
    assert fo1.baseline == pytest.approx(3.0) and fo1.tolerance == pytest.approx(0.5)
    assert fo1.flag == "worse" and "1.2 s" in fo1.reason
    assert trends[("THR-1", "goodput_ratio")].flag == ""
    assert trends[("POR-4", "bypasses")].flag == "limit"


def test_steady_runs_are_not_flagged(nights: Path) -> None:
    write_night(nights, 6, {("FO-1", "detection"): [3.2], ("THR-1", "goodput_ratio"): [97.2], ("POR-4", "bypasses"): [0]}, UNITS)
    assert [t.flag for t in compute_trends(nights)] == ["", "", ""]


def test_baseline_run_and_last(nights: Path) -> None:
    write_night(nights, 6, {("FO-1", "detection"): [3.4]}, UNITS)
    fo1 = next(t for t in compute_trends(nights, last=3, baseline_run="20260103") if t.requirement == "FO-1")
    assert fo1.runs == ["20260104-nightly", "20260105-nightly", "20260106-nightly"]
    assert fo1.baseline == 2.9 and fo1.change == pytest.approx(0.5)
    assert fo1.flag == ""  # 0.5 s worse: inside the band, not past it


def test_cli_flags_regression_with_exit_status(nights: Path, tmp_path: Path) -> None:
    write_night(nights, 6, {("FO-1", "detection"): [6.1]}, UNITS)
    _register()
    plot = tmp_path / "trends.png"
    result = CliRunner().invoke(app, ["report", "trends", "--results", str(nights), "--json", "--plot", str(plot)])
    assert result.exit_code == 1, result.output
    data = json.loads(result.output[: result.output.rindex("]") + 1])
    flagged = [(t["requirement"], t["flag"]) for t in data if t["flag"]]
    assert flagged == [("FO-1", "limit")]
    assert plot.stat().st_size > 10_000
    table = CliRunner().invoke(app, ["report", "trends", "--results", str(nights), "--last", "4"])
    assert table.exit_code == 1 and "LIMIT" in table.output and "1 regression(s)" in table.output


def test_empty_store_is_one_clear_error(tmp_path: Path) -> None:
    _register()
    result = CliRunner().invoke(app, ["report", "trends", "--results", str(tmp_path)])
    assert result.exit_code != 0
    assert "no measurements" in str(result.exception) or "no measurements" in result.output
