"""Per-second, per-class figures of a Locust process, streamed to Parquet as the run goes.

Every request a user makes (HTTP through Locust's client, UDP through `fire`) lands in the
bucket of its second and user class; once a second is over it is written as one small Parquet
file (written under a hidden name, then renamed: a killed run leaves only whole files) under
`<out>/seconds/`; per-passenger quality figures (video start-up, rebuffering, call jitter/loss,
POS latency...) go to `<out>/quality/` the same way. Each row carries a latency histogram so a
run's percentiles can be merged exactly (to the bucket) across seconds, processes and workers.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# Latency histogram: log-spaced buckets, 10 % wide, from 0.5 ms to about 2 minutes.
HIST_BASE_MS = 0.5
HIST_GROWTH = 1.1
HIST_BUCKETS = 132

SECONDS_SCHEMA = pa.schema([
    ("time", pa.timestamp("s", tz="UTC")), ("process", pa.string()), ("cls", pa.string()),
    ("requests", pa.int64()), ("failures", pa.int64()), ("bytes", pa.int64()),
    ("latency_p50_ms", pa.float64()), ("latency_p90_ms", pa.float64()), ("latency_p95_ms", pa.float64()),
    ("latency_p99_ms", pa.float64()), ("latency_max_ms", pa.float64()), ("latency_mean_ms", pa.float64()),
    ("users", pa.int64()), ("latency_hist", pa.list_(pa.int32())),
])
QUALITY_SCHEMA = pa.schema([
    ("time", pa.timestamp("ms", tz="UTC")), ("process", pa.string()), ("cls", pa.string()),
    ("client", pa.string()), ("metric", pa.string()), ("value", pa.float64()),
])


def bucket(ms: float) -> int:
    if ms <= HIST_BASE_MS:
        return 0
    return min(HIST_BUCKETS - 1, int(math.log(ms / HIST_BASE_MS, HIST_GROWTH)) + 1)


def bucket_upper_ms(index: int) -> float:
    return HIST_BASE_MS * HIST_GROWTH ** index


def hist_percentile(hist: np.ndarray, q: float) -> float:
    total = int(hist.sum())
    if total == 0:
        return float("nan")
    rank = math.ceil(q * total)
    return bucket_upper_ms(int(np.searchsorted(np.cumsum(hist), rank)))


class Recorder:
    def __init__(self, out: Path, process: str, users_by_class: Any = None) -> None:
        self.out = out
        self.process = process
        self.users_by_class = users_by_class  # callable -> {cls: running users}
        (out / "seconds").mkdir(parents=True, exist_ok=True)
        (out / "quality").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._buckets: dict[tuple[int, str], dict[str, Any]] = defaultdict(lambda: {"lat": [], "fail": 0, "bytes": 0})
        self._quality: list[dict[str, Any]] = []
        self._seq = 0

    def request(self, cls: str, response_time_ms: float, length: int, failed: bool) -> None:
        b = self._buckets[(int(time.time()), cls)]
        b["lat"].append(response_time_ms)
        b["bytes"] += length or 0
        b["fail"] += 1 if failed else 0

    def quality(self, cls: str, client: str, metric: str, value: float) -> None:
        self._quality.append({"time": time.time(), "process": self.process, "cls": cls, "client": client, "metric": metric, "value": float(value)})

    def flush(self, final: bool = False) -> None:
        """Write every finished second (all of them when final)."""
        now = int(time.time())
        done = [k for k in list(self._buckets) if final or k[0] < now]
        users = self.users_by_class() if self.users_by_class else {}
        rows = []
        for key in sorted(done):
            b = self._buckets.pop(key)
            lat = np.asarray(b["lat"], dtype=float)
            hist = np.zeros(HIST_BUCKETS, dtype=np.int32)
            for ms in lat:
                hist[bucket(ms)] += 1
            p = np.percentile(lat, [50, 90, 95, 99]) if len(lat) else [math.nan] * 4
            rows.append({"time": key[0], "process": self.process, "cls": key[1], "requests": len(lat), "failures": b["fail"],
                         "bytes": b["bytes"], "latency_p50_ms": p[0], "latency_p90_ms": p[1], "latency_p95_ms": p[2],
                         "latency_p99_ms": p[3], "latency_max_ms": float(lat.max()) if len(lat) else math.nan,
                         "latency_mean_ms": float(lat.mean()) if len(lat) else math.nan,
                         "users": int(users.get(key[1], 0)), "latency_hist": hist.tolist()})
        quality, self._quality = self._quality, []
        if rows:
            for r in rows:
                r["time"] = pa.scalar(r["time"] * 1_000_000, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("s", tz="UTC"))
            self._write("seconds", pa.Table.from_pylist(rows, schema=SECONDS_SCHEMA))
        if quality:
            for q in quality:
                q["time"] = int(q["time"] * 1000)
            self._write("quality", pa.Table.from_pylist(quality, schema=QUALITY_SCHEMA))

    def _write(self, kind: str, table: pa.Table) -> None:
        with self._lock:
            self._seq += 1
            name = f"{kind[0]}-{self.process}-{self._seq:06d}.parquet"
        final = self.out / kind / name
        tmp = self.out / kind / f".{name}.tmp"
        with open(tmp, "wb") as sink:
            pq.write_table(table, sink)
        os.replace(tmp, final)
