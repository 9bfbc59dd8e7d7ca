"""Starlink dish gRPC status dumps: FjordLink-style Parquet and starlink-grpc-tools CSV.

Accepted layouts (column names with or without the `dish_status.` prefix):
- FjordLink Parquet: `@timestamp`, `dish_status.state`, `dish_status.pop_ping_latency_ms`,
  `dish_status.pop_ping_drop_rate`, `dish_status.currently_obstructed`, throughput, lat/lon.
- starlink-grpc-tools `dish_grpc_text.py` CSV, status mode (`datetimestamp_utc,id,...,state,...,
  pop_ping_drop_rate,downlink_throughput_bps,uplink_throughput_bps,pop_ping_latency_ms,...,
  currently_obstructed,...`) or bulk history mode (`datetimestamp_utc,pop_ping_drop_rate,
  pop_ping_latency_ms,downlink_throughput_bps,uplink_throughput_bps,snr,scheduled,obstructed`).
  Its timestamps are naive UTC.

Mapping:
- pop_ping_latency_ms is the round trip to the Starlink PoP: one-way delay = RTT / 2 in each
  direction (the dish does not split it; the halves are an assumption, noted in the metadata).
- pop_ping_drop_rate (fraction of that second's pings to the PoP lost, a round trip) -> loss
  1 - sqrt(1 - drop) in each direction, so the round trip over the emulated link,
  1 - (1 - up)(1 - down), loses what the dish's pings lost (split evenly, like the delay).
- outage when state is not CONNECTED, the drop rate is 1, or the dish is currently obstructed.
  During an outage the delay holds its last measured value (the dish reports none).
- downlink/uplink_throughput_bps are the traffic carried that second, NOT capacity: kept as the
  extra column x_carried_bps and summarised in the link metadata, never used as rate_bps.
- rate_bps comes from the user's options or the calibrated default below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.traces.importers.common import (ImportOptions, carried_summary, finish, haversine_km, hold_last,
                                           long_table, order_and_dedupe, provenance, to_utc)
from bench.traces.schema import Trace

KIND = "starlink-dish"
SUMMARY = "Starlink dish gRPC status dump (FjordLink Parquet, starlink-grpc-tools CSV) -> delay, loss, outage"

# Calibrated default capacity: the medians of the Starlink-on-the-Autobahn 1 s iperf3 recording
# (tests/data/recordings/starlink-autobahn, downlink 218 Mbit/s, uplink 15 Mbit/s), a moving
# Starlink terminal under saturating load. Dish dumps carry no capacity figure of their own.
DEFAULT_RATE_DOWN_BPS = 218_000_000
DEFAULT_RATE_UP_BPS = 15_000_000
DEFAULT_RATE_ORIGIN = ("calibrated default: medians of the Starlink-on-the-Autobahn recording "
                       "(218 Mbit/s down, 15 Mbit/s up)")

TIME_COLUMNS = ("@timestamp", "datetimestamp_utc", "timestamp", "time")
PREFIXES = ("dish_status.", "dish_ping_stats.", "status.")


def read(path: Path, options: ImportOptions) -> Trace:
    where = str(path)
    frame = _load(path)
    frame = frame.rename(columns={c: _short(c) for c in frame.columns})
    time_col = next((c for c in TIME_COLUMNS if c in frame.columns), None)
    missing = [c for c in ("pop_ping_latency_ms", "pop_ping_drop_rate") if c not in frame.columns]
    if time_col is None or missing:
        need = ([] if time_col else ["@timestamp or datetimestamp_utc"]) + missing
        raise BenchError(f"not a Starlink dish status dump: missing column(s) {', '.join(need)}", where=where,
                         fix="give a dish gRPC status dump (FjordLink Parquet, or dish_grpc_text.py CSV with its "
                             "header line, status or bulk_history mode)")
    if len(frame) == 0:
        raise BenchError("the dish dump has no rows", where=where, fix="give a dump with at least one sample")

    times = to_utc(frame[time_col], where=where, column=time_col)
    keep, notes = order_and_dedupe(times, where=path.name)
    frame = frame.iloc[keep].reset_index(drop=True)
    times = times.iloc[keep].reset_index(drop=True)
    start = pd.Timestamp(times.iloc[0])
    original = frame[time_col].iloc[0]
    if isinstance(original, str) and ("+" in original[10:] or original.endswith("Z")):
        start = pd.Timestamp(original)  # keep the recording's own UTC offset for display
    t_s = (times - times.iloc[0]).dt.total_seconds().to_numpy()

    rtt = _numeric(frame, "pop_ping_latency_ms", where)
    drop = _numeric(frame, "pop_ping_drop_rate", where)
    state = frame["state"].astype(object).fillna("UNKNOWN").astype(str) if "state" in frame else None
    obstructed = _flag(frame, "currently_obstructed") | _flag(frame, "obstructed")
    bad_rtt = np.flatnonzero(np.isfinite(rtt) & ((rtt < 0) | (rtt > 20_000)))
    if len(bad_rtt):
        i = int(bad_rtt[0])
        raise BenchError(f"pop_ping_latency_ms is {rtt[i]}: expected a round-trip time in ms, 0 to 20000",
                         where=f"{where} row {i + 1} column pop_ping_latency_ms", fix="check the dump")

    not_connected = (state != "CONNECTED").to_numpy() if state is not None else np.zeros(len(frame), bool)
    outage = not_connected | (np.nan_to_num(drop, nan=0.0) >= 1.0) | obstructed | ~np.isfinite(rtt)
    has_rtt = np.isfinite(rtt) & ~outage
    if not has_rtt.any():
        raise BenchError("no second of the dump has a latency while connected: nothing to build a trace from",
                         where=where, fix="give a dump that contains connected samples")
    delay = hold_last(rtt / 2.0, has_rtt)
    round_trip_loss = np.clip(np.where(np.isfinite(drop), drop, np.where(outage, 1.0, 0.0)), 0.0, 1.0)
    loss = 1.0 - np.sqrt(1.0 - round_trip_loss)
    if outage.any():
        notes.append(f"{int(outage.sum())} outage sample(s): state not CONNECTED, drop rate 1 or obstructed; "
                     "delay held at its last measured value there")
    notes.append("one-way delay = pop_ping_latency_ms / 2 in each direction (the dish reports only the round trip)")
    notes.append("loss = 1 - sqrt(1 - pop_ping_drop_rate) in each direction: the round trip loses what the pings lost")

    rate_down = options.rate_down_bps or DEFAULT_RATE_DOWN_BPS
    rate_up = options.rate_up_bps or DEFAULT_RATE_UP_BPS
    rate_origin = "user option" if (options.rate_down_bps or options.rate_up_bps) else DEFAULT_RATE_ORIGIN

    shared: dict[str, object] = {"delay_ms": delay, "jitter_ms": 0.0, "loss": loss, "outage": outage}
    if "latitude" in frame and "longitude" in frame:
        lat, lon = _numeric(frame, "latitude", where), _numeric(frame, "longitude", where)
        valid = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        if valid.any():
            lat, lon = np.where(valid, lat, np.nan), np.where(valid, lon, np.nan)
            shared.update(lat=lat, lon=lon, km=haversine_km(hold_last(lat, valid), hold_last(lon, valid)))

    per_direction: dict[str, dict[str, object]] = {"down": {"rate_bps": rate_down}, "up": {"rate_bps": rate_up}}
    carried = []
    for direction, column in (("down", "downlink_throughput_bps"), ("up", "uplink_throughput_bps")):
        if column in frame:
            values = _numeric(frame, column, where)
            per_direction[direction]["x_carried_bps"] = values
            carried.append(carried_summary(direction, values, "x_carried_bps"))
    if carried:
        notes.append("x_carried_bps is the traffic the dish carried each second (not capacity); "
                     f"rate_bps is {rate_origin}")

    link = options.link or "starlink"
    table = long_table(t_s, link, per_direction, shared)
    prov = provenance(path, options)
    return finish(table, kind=KIND, prov=prov, options=options, start=start, link=link,
                  provider=prov.provider or "starlink", technology="leo-satellite", rate_origin=rate_origin,
                  carried=carried, notes=notes, where=where)


def _load(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith(".csv") or name.endswith(".csv.gz"):
            return pd.read_csv(path, low_memory=False)
        return pd.read_parquet(path)
    except Exception as exc:  # pandas/pyarrow raise many types for a damaged file; all mean "unreadable"
        raise BenchError(f"cannot read the dish dump ({type(exc).__name__}: {str(exc)[:160]})", where=str(path),
                         fix="give a FjordLink-style Parquet file or a dish_grpc_text.py CSV with its header") from None


def _short(column: object) -> str:
    name = str(column).strip()
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _numeric(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce")
    text = frame[column].astype(object)
    bad = values.isna() & text.notna() & ~text.astype(str).str.strip().isin(["", "nan", "NaN", "None"])
    if bool(bad.any()):
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise BenchError(f"column {column} is {text.iloc[i]!r}: expected a number", where=f"{where} row {i + 1} "
                         f"column {column}", fix="check the dump; numbers only in this column")
    return values.to_numpy(dtype="float64")


def _flag(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame[column].astype(object).map(
        lambda v: str(v).strip().lower() in ("true", "1", "1.0", "yes")).to_numpy(dtype=bool)
