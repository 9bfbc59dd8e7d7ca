"""A run's figures for reports, from the Parquet files its Locust processes streamed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from loadgen.recorder import HIST_BUCKETS, QUALITY_SCHEMA, SECONDS_SCHEMA, hist_percentile


def _read(directory: Path, schema: Any) -> pd.DataFrame:
    files = sorted(str(p) for p in directory.glob("*.parquet")) if directory.exists() else []
    if not files:
        return schema.empty_table().to_pandas()
    return ds.dataset(files, schema=schema, format="parquet").to_table().to_pandas()


def seconds(out: Path) -> pd.DataFrame:
    """Per second and class (all processes merged): requests, failures, bytes, latency."""
    return _read(Path(out) / "seconds", SECONDS_SCHEMA)


def quality(out: Path) -> pd.DataFrame:
    return _read(Path(out) / "quality", QUALITY_SCHEMA)


def errors(out: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted((Path(out) / "errors").glob("*.jsonl")):
        found += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return found


def summarize(out: Path) -> dict[str, Any]:
    """Per class: requests, failures, rate, latency percentiles (merged histograms), bytes; per
    quality metric: count, mean, p50, p95, max; the first errors."""
    sec = seconds(out)
    classes: dict[str, Any] = {}
    for cls, rows in sec.groupby("cls"):
        hist = np.sum(np.stack([np.asarray(h, dtype=np.int64) for h in rows["latency_hist"]]), axis=0) if len(rows) else np.zeros(HIST_BUCKETS)
        span = max(1, int((rows["time"].max() - rows["time"].min()).total_seconds()) + 1)
        requests = int(rows["requests"].sum())
        classes[str(cls)] = {
            "requests": requests, "failures": int(rows["failures"].sum()),
            "failure_ratio": float(rows["failures"].sum() / requests) if requests else 0.0,
            "requests_per_s": requests / span, "bytes": int(rows["bytes"].sum()),
            "latency_p50_ms": hist_percentile(hist, 0.50), "latency_p95_ms": hist_percentile(hist, 0.95),
            "latency_p99_ms": hist_percentile(hist, 0.99), "seconds": span,
            "max_users": int(rows.groupby("time")["users"].max().max()) if len(rows) else 0,
        }
    q = quality(out)
    metrics: dict[str, Any] = {}
    for (cls, metric), rows in q.groupby(["cls", "metric"]):
        v = rows["value"].to_numpy()
        metrics[f"{cls}.{metric}"] = {"count": int(len(v)), "clients": int(rows["client"].nunique()), "mean": float(v.mean()),
                                      "p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)), "max": float(v.max())}
    errs = errors(out)
    total = int(sec["requests"].sum()) if len(sec) else 0
    span = int((sec["time"].max() - sec["time"].min()).total_seconds()) + 1 if len(sec) else 0
    return {"classes": classes, "quality": metrics, "requests": total, "seconds": span,
            "requests_per_s": total / span if span else 0.0, "errors": errs[:20], "error_count": len(errs)}
