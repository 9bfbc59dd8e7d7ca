"""Writing a text file so that a reader never sees half of it: write a hidden temporary beside it,
then rename over it (a rename is atomic). With durable, the data is on disk before the rename, so
it survives a power cut, not only a killed process. Parquet stores use the same scheme
(bench/parquetfile.py)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["write_text_atomically"]


def write_text_atomically(path: Path, text: str, *, durable: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per process and thread: two writers never share a temporary.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temporary, "w", encoding="utf-8") as sink:
        sink.write(text)
        if durable:
            sink.flush()
            os.fsync(sink.fileno())
    os.replace(temporary, path)
    return path
