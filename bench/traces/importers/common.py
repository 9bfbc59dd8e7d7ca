"""What every importer shares: options, provenance of the input file, and building the long table."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PositiveInt

from bench.errors import BenchError
from bench.traces.schema import Trace, build_trace

KNOWN_SOURCES_FILE = Path(__file__).with_name("known_sources.yaml")


class ImportOptions(BaseModel):
    """User choices an importer cannot read from the file; each importer says which it uses."""

    model_config = ConfigDict(extra="forbid")
    link: str | None = Field(default=None, description="link name in the trace (default per importer)")
    provider: str | None = None
    rate_down_bps: PositiveInt | None = Field(default=None, description="link rate ground->train")
    rate_up_bps: PositiveInt | None = Field(default=None, description="link rate train->ground")
    delay_ms: float | None = Field(default=None, ge=0, description="one-way delay for sources without latency")
    direction: Literal["down", "up"] | None = None
    interval_s: float | None = Field(default=None, gt=0, le=3600, description="bin width for event logs")
    close_gaps: bool = Field(default=True, description="close measurement gaps instead of holding values")
    licence: str | None = None
    attribution: str | None = None
    route: str | None = None
    time_zone: str | None = None
    start_time: AwareDatetime | None = None


@dataclass(frozen=True)
class Provenance:
    derived_from: str
    licence: str
    attribution: str
    time_zone: str
    provider: str | None
    notes: tuple[str, ...]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(path: Path, options: ImportOptions, default_zone: str = "UTC") -> Provenance:
    """Licence and attribution: the user's options, else the known-source table, else 'unspecified'."""
    digest = sha256_file(path)
    known = _known_sources().get(digest, {})
    notes = []
    licence = options.licence or known.get("licence")
    if licence is None:
        licence = "unspecified"
        notes.append("licence of the source data not given: pass --licence when importing")
    return Provenance(
        derived_from=f"{path.name} sha256:{digest}",
        licence=licence,
        attribution=options.attribution or known.get("attribution", ""),
        time_zone=options.time_zone or known.get("time_zone", default_zone),
        provider=options.provider or known.get("provider"),
        notes=tuple(notes) + tuple(known.get("notes", [])),
    )


def _known_sources() -> dict[str, dict]:
    raw = yaml.safe_load(KNOWN_SOURCES_FILE.read_text(encoding="utf-8")) or {}
    return {entry["sha256"]: entry for entry in raw.get("sources", [])}


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges [start, end) where mask is True."""
    padded = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2])]


def hold_last(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Replace values where keep is False by the last kept value (the first kept one at the start)."""
    series = pd.Series(np.where(keep, values, np.nan), dtype="float64")
    return series.ffill().bfill().to_numpy()


def haversine_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Cumulative great-circle distance along a GPS track; missing fixes add nothing."""
    lat_r, lon_r = np.radians(lat), np.radians(lon)
    dlat, dlon = np.diff(lat_r), np.diff(lon_r)
    a = np.sin(dlat / 2) ** 2 + np.cos(lat_r[:-1]) * np.cos(lat_r[1:]) * np.sin(dlon / 2) ** 2
    step = 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    return np.concatenate(([0.0], np.cumsum(np.nan_to_num(step, nan=0.0))))


def to_utc(values: pd.Series, *, where: str, column: str, naive_is: str = "UTC") -> pd.Series:
    """Parse timestamps (ISO text or epoch seconds) to tz-aware UTC; naive ones are taken as `naive_is`."""
    try:
        if pd.api.types.is_numeric_dtype(values):
            parsed = pd.to_datetime(values.astype("float64"), unit="s", utc=True)
        else:
            parsed = pd.to_datetime(values, format="mixed")
            if parsed.dt.tz is None:
                parsed = parsed.dt.tz_localize(naive_is)
            parsed = parsed.dt.tz_convert("UTC")
    except (ValueError, TypeError, OverflowError) as exc:
        raise BenchError(f"column {column} holds values that are not times ({str(exc)[:120]})",
                         where=f"{where} column {column}",
                         fix="give ISO 8601 times or Unix epoch seconds") from None
    if parsed.isna().any():
        i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise BenchError(f"column {column} is empty at data row {i + 1}", where=f"{where} row {i + 1} column {column}",
                         fix="every row needs a time")
    return parsed


def order_and_dedupe(times: pd.Series, where: str) -> tuple[np.ndarray, list[str]]:
    """Row order that sorts by time and drops repeated times (first kept), with notes saying so."""
    notes = []
    order = np.argsort(times.to_numpy(), kind="stable")
    if not np.array_equal(order, np.arange(len(times))):
        notes.append(f"{where}: rows were not in time order; sorted")
    sorted_times = times.iloc[order].reset_index(drop=True)
    dup = sorted_times.duplicated().to_numpy()
    if dup.any():
        notes.append(f"{where}: {int(dup.sum())} row(s) repeated an earlier time and were dropped")
    return order[~dup], notes


def close_gaps(t_s: np.ndarray, *, factor: float = 1.5) -> tuple[np.ndarray, list[str]]:
    """Shorten measurement gaps (a step > factor x the median step) to one median step.

    A gap is a stretch with no measurement, not an outage: holding the last value over it would
    invent link behaviour, so the time axis skips it; the notes list each gap closed.
    """
    if len(t_s) < 3:
        return t_s, []
    steps = np.diff(t_s)
    median = float(np.median(steps))
    gap = steps > factor * median
    if not gap.any():
        return t_s, []
    idx = np.flatnonzero(gap)
    largest = idx[np.argsort(steps[idx])[::-1][:5]]
    notes = [f"{len(idx)} measurement gap(s) closed to one {median:.2f} s step (lengths {steps[idx].min():.1f}-"
             f"{steps[idx].max():.1f} s, {steps[idx].sum():.0f} s in all); start_time + t_s is wall time only "
             f"up to the first gap"]
    notes += [f"gap of {steps[i]:.1f} s after source t_s {t_s[i]:.1f}" for i in sorted(largest)]
    new_steps = np.where(gap, median, steps)
    return np.concatenate(([t_s[0]], t_s[0] + np.cumsum(new_steps))), notes


def long_table(t_s: np.ndarray, link: str, per_direction: Mapping[str, Mapping[str, object]],
               shared: Mapping[str, object] | None = None) -> pd.DataFrame:
    """Long-form rows for one link: per-direction columns, plus shared columns (position) on each."""
    frames = []
    for direction, columns in per_direction.items():
        frame = pd.DataFrame({"t_s": t_s, "link": link, "direction": direction})
        for name, value in {**(shared or {}), **columns}.items():
            frame[name] = value
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)



def carried_summary(direction: str, values: np.ndarray, column: str) -> dict:
    """Percentiles of what a link carried (traffic), for the metadata; never its capacity."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        finite = np.array([0.0])
    return {"direction": direction, "p50_bps": float(np.percentile(finite, 50)),
            "p95_bps": float(np.percentile(finite, 95)), "max_bps": float(finite.max()), "column": column}


def finish(table: pd.DataFrame, *, kind: str, prov: Provenance, options: ImportOptions, start: pd.Timestamp,
           link: str, provider: str, technology: str, rate_origin: str, carried: list[dict] | None = None,
           notes: list[str] | None = None, where: str) -> Trace:
    """Wrap an importer's table into a validated recorded Trace with its provenance."""
    meta = {
        "source": "recorded",
        "derived_from": [prov.derived_from],
        "importer": kind,
        "provider": provider,
        "route": options.route,
        "start_time": start.isoformat(),
        "time_zone": prov.time_zone,
        "licence": prov.licence,
        "attribution": prov.attribution,
        "links": {link: {"provider": provider, "technology": technology, "rate_origin": rate_origin,
                         "carried": carried or []}},
        "notes": list(prov.notes) + list(notes or []),
    }
    return build_trace(table, meta, where=where)
