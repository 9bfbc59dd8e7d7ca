"""Importers: one module per source format, found by KIND name.

`import_trace("starlink-dish", path, rate_down_bps=...)` reads a recording into a validated
Trace. Each importer module defines KIND, SUMMARY and `read(path, options) -> Trace`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bench.errors import BenchError
from bench.traces.importers import iperf3_json, mahimahi, ping, starlink_dish, throughput_csv
from bench.traces.importers.common import ImportOptions
from bench.traces.schema import Trace


@dataclass(frozen=True)
class Importer:
    kind: str
    summary: str
    read: Callable[[Path, ImportOptions], Trace]


IMPORTERS: dict[str, Importer] = {
    m.KIND: Importer(m.KIND, m.SUMMARY, m.read)
    for m in (starlink_dish, ping, iperf3_json, throughput_csv, mahimahi)
}


def import_trace(kind: str, path: str | Path, **options: Any) -> Trace:
    """Read `path` with the importer `kind`; every problem is one BenchError."""
    importer = IMPORTERS.get(kind)
    if importer is None:
        raise BenchError(f"unknown import kind {kind!r}", where="trace import",
                         fix=f"use one of: {', '.join(sorted(IMPORTERS))}")
    path = Path(path)
    if not path.is_file():
        raise BenchError("input file not found", where=str(path), fix="check the path")
    try:
        opts = ImportOptions(**options)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BenchError(f"import option {field}: {first['msg']}", where=f"trace import {kind}",
                         fix=f"options are: {', '.join(ImportOptions.model_fields)}") from None
    if path.stat().st_size == 0:
        raise BenchError("the file is empty", where=str(path), fix=f"give a non-empty {kind} file")
    return importer.read(path, opts)


__all__ = ["IMPORTERS", "ImportOptions", "Importer", "import_trace"]
