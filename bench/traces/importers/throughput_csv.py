"""1 s throughput CSVs such as the Starlink-on-the-Autobahn motorway recording.

Accepted columns (first match wins):
- time: `timestamp_start_dl` (the Autobahn file: naive UTC), `time`, `timestamp` (ISO or epoch s);
- downlink / uplink in Mbit/s: `download` / `upload` (Autobahn), `down_mbps` / `up_mbps`;
- optional position: `Latitude`/`Longitude` or `lat`/`lon`, speed `Speed(km/h)` or `speed_kmh`.

Each row is one second of a saturating measurement: its throughput is taken as the link rate.
A 0 Mbit/s second is an outage of that direction (the rate holds its last non-zero value).
km is the cumulative GPS distance (the recording's own distance counter restarts).
Measurement gaps (a step > 1.5 x the median step) are closed unless `close_gaps=False`, and
listed in the notes; repeated timestamps are dropped (first kept).
The file has no latency: delay is the user's `delay_ms`, else the calibrated default below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.traces.importers.common import (ImportOptions, close_gaps, finish, haversine_km, hold_last, long_table,
                                           order_and_dedupe, provenance, runs, to_utc)
from bench.traces.schema import Trace

KIND = "throughput-csv"
SUMMARY = "1 s throughput CSV (e.g. the Autobahn Starlink recording) -> rate, zero runs -> outage, GPS, speed"

# Calibrated default one-way delay: half the median pop_ping_latency_ms (25.5 ms) of the FjordLink
# Starlink dish dumps in tests/data/recordings; a throughput recording carries no latency.
DEFAULT_DELAY_MS = 12.75

TIME = ("timestamp_start_dl", "time", "timestamp")
DOWN = ("download", "down_mbps", "downlink_mbps")
UP = ("upload", "up_mbps", "uplink_mbps")
LAT = ("Latitude", "lat", "latitude")
LON = ("Longitude", "lon", "longitude")
SPEED = ("Speed(km/h)", "speed_kmh")


def read(path: Path, options: ImportOptions) -> Trace:
    where = str(path)
    try:
        frame = pd.read_csv(path, low_memory=False)
    except Exception as exc:  # pandas' parser raises several types; all mean "not this CSV"
        raise BenchError(f"cannot read the throughput CSV ({type(exc).__name__}: {str(exc)[:160]})", where=where,
                         fix="give a CSV with a time column and download/upload in Mbit/s") from None
    time_col, down_col, up_col = (_pick(frame, names) for names in (TIME, DOWN, UP))
    if time_col is None or (down_col is None and up_col is None):
        raise BenchError(f"not a throughput CSV: need a time column ({' or '.join(TIME)}) and download/upload "
                         f"in Mbit/s ({' or '.join(DOWN + UP)}); found {', '.join(map(str, frame.columns[:8]))}",
                         where=where, fix="rename the columns, or use the importer for this kind of file")
    if len(frame) == 0:
        raise BenchError("the CSV has no rows", where=where, fix="give at least one second of data")
    times = to_utc(frame[time_col], where=where, column=time_col)
    # Parse every numeric column first, so an error names the row as it is in the file.
    columns = {c: _numbers(frame, c, where) for c in (down_col, up_col, *(_pick(frame, n) for n in (LAT, LON, SPEED)))
               if c is not None}
    keep, notes = order_and_dedupe(times, where=path.name)
    columns = {c: v[keep] for c, v in columns.items()}
    times = times.iloc[keep].reset_index(drop=True)
    t_s = (times - times.iloc[0]).dt.total_seconds().to_numpy()
    if options.close_gaps:
        t_s, gap_notes = close_gaps(t_s)
        notes.extend(gap_notes)

    per_direction: dict[str, dict[str, object]] = {}
    for direction, column in (("down", down_col), ("up", up_col)):
        if column is None:
            continue
        mbps = columns[column]
        outage = mbps <= 0
        if outage.all():
            raise BenchError(f"column {column} is 0 in every row", where=f"{where} column {column}",
                             fix="a direction that never carried anything cannot give a rate")
        rate = np.round(hold_last(mbps * 1e6, ~outage)).astype(np.int64)
        per_direction[direction] = {"rate_bps": rate, "outage": outage, "loss": np.where(outage, 1.0, 0.0)}
        lengths = _run_lengths(outage)
        if lengths:
            notes.append(f"{direction}: {len(lengths)} zero-throughput run(s) -> outage, lengths "
                         f"{min(lengths)}-{max(lengths)} rows")

    delay = options.delay_ms if options.delay_ms is not None else DEFAULT_DELAY_MS
    notes.append(f"delay {delay} ms one-way, constant: "
                 + ("user option" if options.delay_ms is not None else
                    "calibrated default (half the FjordLink Starlink median RTT); the CSV has no latency"))
    shared: dict[str, object] = {"delay_ms": delay, "jitter_ms": 0.0}
    lat_col, lon_col, speed_col = _pick(frame, LAT), _pick(frame, LON), _pick(frame, SPEED)
    if lat_col and lon_col:
        lat, lon = columns[lat_col], columns[lon_col]
        valid = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        if valid.any():
            shared.update(lat=np.where(valid, lat, np.nan), lon=np.where(valid, lon, np.nan),
                          km=haversine_km(hold_last(lat, valid), hold_last(lon, valid)))
    if speed_col:
        speed = columns[speed_col]
        shared["speed_kmh"] = np.where(np.isfinite(speed), np.clip(speed, 0, None), np.nan)

    link = options.link or "starlink"
    table = long_table(t_s, link, per_direction, shared)
    prov = provenance(path, options)
    provider = prov.provider or "unknown"
    return finish(table, kind=KIND, prov=prov, options=options, start=pd.Timestamp(times.iloc[0]), link=link,
                  provider=provider, technology="leo-satellite" if provider in ("starlink", "oneweb") else "other",
                  rate_origin="measured (1 s throughput of a saturating test)", notes=notes, where=where)


def _pick(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def _numbers(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bool(bad.any()):
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise BenchError(f"column {column} is {frame[column].iloc[i]!r}: expected a number",
                         where=f"{where}:{i + 2} column {column}", fix="numbers only in this column")
    out = values.to_numpy(dtype="float64")
    if column in DOWN + UP:
        if np.isnan(out).any():
            i = int(np.flatnonzero(np.isnan(out))[0])
            raise BenchError(f"column {column} is empty", where=f"{where}:{i + 2} column {column}",
                             fix="every second needs a throughput (0 for none)")
        if (out < 0).any():
            i = int(np.flatnonzero(out < 0)[0])
            raise BenchError(f"column {column} is {out[i]}: expected Mbit/s >= 0",
                             where=f"{where}:{i + 2} column {column}", fix="throughput cannot be negative")
    return out


def _run_lengths(mask: np.ndarray) -> list[int]:
    return [b - a for a, b in runs(mask)]
