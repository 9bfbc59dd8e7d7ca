"""The results store: Parquet as measurements happen, readable across runs, and surviving SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.measure.catalogue import default_catalogue
from bench.measure.measurement import Measurement, RunInfo, evaluate
from bench.measure.store import SCHEMA, STORE_DIR, MeasurementStore, load_measurements

REPO = Path(__file__).resolve().parents[2]

# the metrics store's columns named by issue 10 (position = trace time and km)
ISSUE_10_COLUMNS = {"run_id", "time", "suite", "test", "requirement", "value", "units", "limit", "verdict",
                    "dut", "firmware", "trace", "trace_hash", "trace_time_s", "km"}


def sample(run_id: str, value: float, *, n: int = 0) -> Measurement:
    run = RunInfo(run_id=run_id, suite="nightly", dut="reference-router", firmware="fw-2", link_backend="userspace")
    return evaluate(default_catalogue(), "OPS-1", value, units="ms", run=run, test=f"t::{n}",
                    trace="astana-almaty", trace_hash="c0ffee", trace_time_s=100.0 + n, km=12.5 + n, context={"n": n, "class": "pos"})


def test_each_measurement_is_a_parquet_file_at_once(tmp_path: Path) -> None:
    store = MeasurementStore(tmp_path / STORE_DIR)
    first = store.append(sample("run-a", 400))
    assert first.exists() and first.suffix == ".parquet"
    frame = load_measurements(tmp_path)  # readable while the run goes on
    assert len(frame) == 1
    row = frame.iloc[0]
    assert ISSUE_10_COLUMNS <= set(frame.columns)
    assert list(frame.columns) == SCHEMA.names
    assert (row.requirement, row.quantity, row.value, row.units, row.recorded_value, row.recorded_units) == ("OPS-1", "latency_p95", 0.4, "s", 400.0, "ms")
    assert (row.verdict, row.limit, row.dut, row.firmware, row.trace, row.km) == ("pass", "<= 1.5 s", "reference-router", "fw-2", "astana-almaty", 12.5)
    assert json.loads(row.context) == {"class": "pos", "n": 0}
    assert str(row.time.tz) == "UTC"


def test_runs_are_read_together_and_compaction_keeps_every_row(tmp_path: Path) -> None:
    for run_id, values in (("night-1", [300, 1700]), ("night-2", [500, 1300, 1460])):
        store = MeasurementStore(tmp_path / run_id / STORE_DIR)
        for n, value in enumerate(values):
            store.append(sample(run_id, value, n=n))
        if run_id == "night-1":
            merged = store.compact()
            assert merged is not None and [p.name for p in (tmp_path / run_id / STORE_DIR).iterdir()] == [merged.name]
    frame = load_measurements(tmp_path)
    assert frame.groupby("run_id").size().to_dict() == {"night-1": 2, "night-2": 3}
    assert frame.groupby("verdict").size().to_dict() == {"fail": 1, "marginal": 1, "pass": 3}
    assert frame.time.is_monotonic_increasing
    # one run's directory alone, and the measurements directory itself
    assert len(load_measurements(tmp_path / "night-2")) == 3
    assert len(load_measurements(tmp_path / "night-2" / STORE_DIR)) == 3


def test_a_crash_between_compaction_steps_does_not_double_count(tmp_path: Path) -> None:
    store = MeasurementStore(tmp_path / STORE_DIR)
    paths = [store.append(sample("r", 100 * n, n=n)) for n in range(3)]
    kept = [p.read_bytes() for p in paths]
    store.compact()
    for path, data in zip(paths, kept):  # as if the process died before removing the small files
        path.write_bytes(data)
    assert len(load_measurements(tmp_path)) == 3


def test_an_empty_or_missing_store(tmp_path: Path) -> None:
    frame = load_measurements(tmp_path)
    assert frame.empty and list(frame.columns) == SCHEMA.names
    with pytest.raises(BenchError, match="no such results directory"):
        load_measurements(tmp_path / "nope")


def test_a_damaged_file_is_named_and_temporary_files_are_ignored(tmp_path: Path) -> None:
    store = MeasurementStore(tmp_path / STORE_DIR)
    good = store.append(sample("r", 100))
    (tmp_path / STORE_DIR / f".{good.name}.tmp").write_bytes(good.read_bytes()[:50])  # a write cut short
    assert len(load_measurements(tmp_path)) == 1
    (tmp_path / STORE_DIR / "m-junk.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(BenchError, match="m-junk.parquet"):
        load_measurements(tmp_path)


def test_measurements_survive_a_sigkill_of_the_writer(tmp_path: Path) -> None:
    """A writer killed with SIGKILL mid-run keeps every measurement whose append had returned."""
    directory = tmp_path / "run" / STORE_DIR
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.measure.store_writer", str(directory), "killed-run"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    acknowledged: list[str] = []
    try:
        assert writer.stdout is not None
        for line in writer.stdout:  # wait until it has written a fair number, then kill it mid-stream
            acknowledged.append(line.strip())
            if len(acknowledged) >= 60:
                break
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL, writer.stderr.read() if writer.stderr else ""
    assert len(acknowledged) >= 60, (writer.stderr.read() if writer.stderr else "")
    frame = load_measurements(tmp_path)
    stored = set(frame.measurement_id)
    assert set(acknowledged) <= stored  # everything acknowledged survived
    assert len(stored) >= len(acknowledged)  # and at most the ones written after the last read line
    assert (frame.run_id == "killed-run").all() and frame.verdict.isin(["pass", "marginal", "fail"]).all()
    assert frame.km.notna().all() and frame.trace_time_s.notna().all()
    ns = sorted(json.loads(c)["n"] for c in frame.context)
    assert ns == list(range(len(ns)))  # no gap, no torn row
    leftovers = [p.name for p in directory.iterdir() if p.name.startswith(".")]
    assert len(leftovers) <= 1  # at most the one file being written when the kill came
