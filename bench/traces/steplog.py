"""The replay's step log: every applied step appended to Parquet as it happens.

The same approach as the results store (bench/measure/store.py): steps are written as small whole
Parquet files under a hidden temporary name, flushed, then renamed into place, so a replay killed
at any instant (SIGKILL included) leaves only whole files. A writer thread collects the steps
applied within `flush_interval_s` (0.1 s) into one file, so the scheduler never waits for the disk
and a kill loses at most the last fraction of a second. `close()` merges the chunks into one file;
a crash between writing the merged file and removing the chunks leaves duplicates, which
`read_step_log` drops by (replay_id, seq).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from bench.errors import BenchError
from bench.parquetfile import write_table_atomically

STEP_SCHEMA = pa.schema([
    pa.field("replay_id", pa.string(), nullable=False),
    pa.field("seq", pa.int64(), nullable=False),
    pa.field("loop", pa.int32(), nullable=False),
    pa.field("trace_t_s", pa.float64(), nullable=False),
    pa.field("scheduled_unix_s", pa.float64(), nullable=False),
    pa.field("applied_unix_s", pa.float64(), nullable=False),
    pa.field("error_ms", pa.float64(), nullable=False),  # applied minus scheduled
    pa.field("apply_ms", pa.float64(), nullable=False),  # how long the link took to accept it
    pa.field("link", pa.string(), nullable=False),  # the trace's link name
    pa.field("wan", pa.string()),  # the lab WAN it drives (empty in a dry run)
    pa.field("direction", pa.string(), nullable=False),  # down | up
    pa.field("delay_ms", pa.float64()),
    pa.field("jitter_ms", pa.float64()),
    pa.field("loss", pa.float64()),
    pa.field("loss_burst_pkts", pa.float64()),
    pa.field("rate_bps", pa.int64()),
    pa.field("outage", pa.bool_()),
    pa.field("km", pa.float64()),
    pa.field("rows", pa.int32()),  # trace rows coalesced into this step
])


class StepLog:
    """Appends step records (dicts with STEP_SCHEMA's fields) to Parquet chunks in `directory`."""

    def __init__(self, directory: Path | str, *, replay_id: str | None = None, durable: bool = True,
                 flush_interval_s: float = 0.1) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.replay_id = replay_id or uuid.uuid4().hex[:12]
        self.durable = durable  # fsync each chunk: survives a power cut, not only a killed process
        self.flush_interval_s = flush_interval_s
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._chunks: list[Path] = []
        self._chunk_seq = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_loop, daemon=True, name="replay-step-log")
        self._thread.start()

    def append(self, record: dict[str, Any]) -> None:
        """Hand one step to the writer thread (returns at once)."""
        self._queue.put(record)

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = [first], False
            # whatever else arrives within the flush interval of the first step joins its file
            deadline = time.monotonic() + self.flush_interval_s
            while len(batch) < 5000:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                self._write_chunk(batch)
            except BaseException as exc:  # noqa: BLE001 - reported by close(); the replay goes on
                self._error = exc
            if stop:
                return

    def _write_chunk(self, batch: list[dict[str, Any]]) -> None:
        self._chunk_seq += 1
        table = pa.Table.from_pylist(batch, schema=STEP_SCHEMA)
        self._chunks.append(self._write_atomically(table, f"steps-{self.replay_id}-{self._chunk_seq:06d}.parquet"))

    def _write_atomically(self, table: pa.Table, name: str) -> Path:
        return write_table_atomically(table, self.directory, name, durable=self.durable)

    def close(self, *, compact: bool = True) -> Path | None:
        """Write what is queued, stop the writer, merge the chunks; returns the merged file."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise BenchError(f"the step log could not be written: {self._error}", where=str(self.directory),
                             fix="check free space and permissions of the log directory")
        if not compact or not self._chunks:
            return None
        table = ds.dataset([str(p) for p in self._chunks], schema=STEP_SCHEMA, format="parquet").to_table()
        merged = self._write_atomically(table, f"replay-{self.replay_id}.parquet")
        for path in self._chunks:
            path.unlink(missing_ok=True)
        self._chunks = [merged]
        return merged


def read_step_log(directory: Path | str) -> pd.DataFrame:
    """Every step logged under `directory` (whole files only), ordered by replay and sequence."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BenchError("no such step-log directory", where=str(directory), fix="give the replay's log directory")
    files = sorted(p for p in directory.glob("*.parquet") if not p.name.startswith("."))
    if not files:
        return STEP_SCHEMA.empty_table().to_pandas()
    frame = ds.dataset([str(p) for p in files], schema=STEP_SCHEMA, format="parquet").to_table().to_pandas()
    frame = frame.drop_duplicates(subset=["replay_id", "seq"], keep="first")
    return frame.sort_values(["replay_id", "seq"], kind="stable").reset_index(drop=True)
