"""The results store: every measurement appended to Parquet the moment it is produced.

Each measurement is written as its own small Parquet file in ``<results-dir>/measurements/``:
written under a hidden temporary name, flushed, then renamed into place. A rename is atomic, so a
run killed at any instant (SIGKILL included) leaves only whole files: what it measured so far,
never a torn row. At the end of a run ``compact`` merges that run's files into one; a crash
between writing the merged file and removing the small ones leaves duplicates, which the reader
drops by ``measurement_id``.

``load_measurements(root)`` reads every ``measurements/`` directory under ``root`` (one run's
results directory, or a results root holding many runs) as one table.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from bench.errors import BenchError
from bench.measure.measurement import Measurement
from bench.parquetfile import write_table_atomically

__all__ = ["SCHEMA", "STORE_DIR", "MeasurementStore", "load_measurements", "measurement_files"]

STORE_DIR = "measurements"

SCHEMA = pa.schema(
    [
        pa.field("measurement_id", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("suite", pa.string()),
        pa.field("test", pa.string()),
        pa.field("requirement", pa.string(), nullable=False),
        pa.field("quantity", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("units", pa.string(), nullable=False),
        pa.field("recorded_value", pa.float64()),
        pa.field("recorded_units", pa.string()),
        pa.field("limit", pa.string()),
        pa.field("limit_kind", pa.string()),
        pa.field("limit_low", pa.float64()),
        pa.field("limit_high", pa.float64()),
        pa.field("marginal", pa.string()),
        pa.field("verdict", pa.string(), nullable=False),
        pa.field("message", pa.string()),
        pa.field("trace", pa.string()),
        pa.field("trace_hash", pa.string()),
        pa.field("trace_time_s", pa.float64()),
        pa.field("km", pa.float64()),
        pa.field("dut", pa.string()),
        pa.field("firmware", pa.string()),
        pa.field("link_backend", pa.string()),
        pa.field("catalogue_version", pa.string()),
        pa.field("context", pa.string()),  # JSON text: the test's extra context
        pa.field("invalid_reason", pa.string()),  # why a measurement is 'invalid' (null: judged); absent in older stores
    ]
)


def _row(measurement: Measurement) -> dict[str, object]:
    row = measurement.model_dump(mode="python")
    row["context"] = json.dumps(row["context"], default=str, sort_keys=True)
    return row


class MeasurementStore:
    """Appends measurements of one run to ``directory`` (normally ``<results-dir>/measurements``)."""

    def __init__(self, directory: Path | str, *, durable: bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.durable = durable  # fsync each file: survives a power cut, not only a killed process
        self._lock = threading.Lock()
        self._seq = 0
        self._written: list[Path] = []

    def append(self, measurement: Measurement) -> Path:
        """Write one measurement as a whole Parquet file; returns its path."""
        table = pa.Table.from_pylist([_row(measurement)], schema=SCHEMA)
        with self._lock:
            self._seq += 1
            name = f"m-{measurement.run_id}-{self._seq:06d}-{measurement.measurement_id[:8]}.parquet"
            path = self._write_atomically(table, name)
            self._written.append(path)
        return path

    def compact(self) -> Path | None:
        """Merge the files this store wrote into one per run; returns the merged file (None: none)."""
        with self._lock:
            if not self._written:
                return None
            table = ds.dataset([str(path) for path in self._written], schema=SCHEMA, format="parquet").to_table()
            run_ids = sorted(set(table.column("run_id").to_pylist()))
            name = f"run-{'_'.join(run_ids)}-{uuid.uuid4().hex[:8]}.parquet"
            merged = self._write_atomically(table, name)
            for path in self._written:
                path.unlink(missing_ok=True)
            self._written = [merged]
            return merged

    def _write_atomically(self, table: pa.Table, name: str) -> Path:
        return write_table_atomically(table, self.directory, name, durable=self.durable)


def measurement_files(root: Path | str) -> list[Path]:
    """Every stored measurement file under ``root`` (a run's directory, a results root, or a
    ``measurements`` directory itself), in a stable order."""
    root = Path(root)
    if not root.exists():
        raise BenchError("no such results directory", where=str(root), fix="give the results directory of a run (--results-dir) or the results root holding several runs")
    candidates = list(root.glob("*.parquet")) if root.name == STORE_DIR else []
    candidates += root.rglob(f"{STORE_DIR}/*.parquet")
    return sorted({path for path in candidates if not path.name.startswith(".")})


def load_measurements(root: Path | str) -> pd.DataFrame:
    """Every measurement under ``root`` as one DataFrame (columns: ``SCHEMA``), ordered by time."""
    files = measurement_files(root)
    if not files:
        return SCHEMA.empty_table().to_pandas()
    try:
        table = ds.dataset([str(path) for path in files], schema=SCHEMA, format="parquet").to_table()
    except (pa.ArrowInvalid, OSError) as exc:
        raise BenchError(
            f"a measurement file cannot be read: {exc}",
            where=str(root),
            fix="move the damaged file named above out of the measurements directory (the others are read without it)",
        ) from None
    frame = table.to_pandas()
    frame = frame.drop_duplicates(subset="measurement_id", keep="first")
    return frame.sort_values(["time", "measurement_id"], kind="stable").reset_index(drop=True)
