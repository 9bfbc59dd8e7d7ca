"""Writing Parquet so that a reader never sees half a file: write hidden, then rename.

The bench's stores (measurements, replay step logs) append by writing one small file per batch this
way, so a run killed at any instant leaves only whole files (a crash mid-write leaves a hidden
`.NAME.tmp` that readers skip).
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def write_table_atomically(table: pa.Table, directory: Path, name: str, *, durable: bool = True) -> Path:
    """Write `table` to `directory/name`; with durable, fsync before the rename (survives a power cut)."""
    final = directory / name
    temporary = directory / f".{name}.tmp"  # hidden: readers skip it
    with open(temporary, "wb") as sink:
        pq.write_table(table, sink)
        if durable:
            sink.flush()
            os.fsync(sink.fileno())
    os.replace(temporary, final)
    return final
