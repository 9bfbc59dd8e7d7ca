"""The trace format: metadata (pydantic) plus one table in long form, validated.

Long form, one row per (time, link, direction):

    t_s  link      direction  delay_ms  jitter_ms  loss   loss_burst_pkts  rate_bps   outage  km ...
    0.0  starlink  down       12.7      0.4        0.0                     218000000  False
    0.0  starlink  up         12.7      0.4        0.0                     15000000   False

Long form was chosen over wide form because links and directions may be sampled at different
instants (a 1 Hz dish dump next to a 10 Hz ping log), because the replay clock applies rows one
(link, direction) at a time, and because a validation error can then name one cell exactly.

A row's values hold from its `t_s` until the next row of the same (link, direction). Units are in
the column names and never guessed: a `delay_s` or `rate_mbps` column is rejected with the
conversion to make. Columns starting with `x_` are free extra data kept alongside (for example
`x_carried_bps`, the traffic a dish carried, which is NOT the link's capacity).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from bench.errors import BenchError

FORMAT_NAME = "skybench-trace"
FORMAT_VERSION = 1
DIRECTIONS = ("down", "up")  # down: ground -> train, up: train -> ground
LINK_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
EXTRA_PREFIX = "x_"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    required: bool
    meaning: str


COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("t_s", True, "seconds from the trace start, >= 0, strictly increasing per link and direction"),
    ColumnSpec("link", True, "link name, lower case (e.g. starlink, oneweb, lte)"),
    ColumnSpec("direction", True, "'down' (ground to train) or 'up' (train to ground)"),
    ColumnSpec("delay_ms", True, "one-way delay in milliseconds, >= 0"),
    ColumnSpec("jitter_ms", False, "one-way delay variation (standard deviation) in milliseconds, >= 0; default 0"),
    ColumnSpec("loss", True, "packet loss as a fraction from 0 to 1"),
    ColumnSpec("loss_burst_pkts", False, "mean length of a loss burst in packets, >= 1; empty means independent losses"),
    ColumnSpec("rate_bps", True, "link rate in bit/s, a whole number > 0; empty means unlimited"),
    ColumnSpec("outage", True, "true while the link carries nothing"),
    ColumnSpec("km", False, "position along the route in km, >= 0"),
    ColumnSpec("lat", False, "latitude in degrees, -90 to 90"),
    ColumnSpec("lon", False, "longitude in degrees, -180 to 180"),
    ColumnSpec("speed_kmh", False, "train speed in km/h, >= 0"),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
REQUIRED = tuple(c.name for c in COLUMNS if c.required)

# Wrong-unit spellings users (and other tools) write, with the conversion to our column.
_UNIT_HINTS: dict[str, tuple[str, str]] = {
    "delay_s": ("delay_ms", "multiply by 1000"),
    "delay_us": ("delay_ms", "divide by 1000"),
    "latency_ms": ("delay_ms", "if it is a round-trip time, halve it (delay_ms is one-way)"),
    "rtt_ms": ("delay_ms", "halve it: delay_ms is one-way, rtt is both ways"),
    "jitter_s": ("jitter_ms", "multiply by 1000"),
    "jitter_us": ("jitter_ms", "divide by 1000"),
    "t_ms": ("t_s", "divide by 1000"),
    "time_s": ("t_s", "rename it"),
    "time": ("t_s", "give seconds from the trace start"),
    "timestamp": ("t_s", "give seconds from the trace start, and put the start in the metadata"),
    "rate_kbps": ("rate_bps", "multiply by 1000"),
    "rate_mbps": ("rate_bps", "multiply by 1000000"),
    "rate_gbps": ("rate_bps", "multiply by 1000000000"),
    "rate_bytes": ("rate_bps", "multiply bytes/s by 8"),
    "rate_bytes_s": ("rate_bps", "multiply bytes/s by 8"),
    "loss_pct": ("loss", "divide by 100: loss is a fraction from 0 to 1"),
    "loss_percent": ("loss", "divide by 100: loss is a fraction from 0 to 1"),
    "speed_ms": ("speed_kmh", "multiply m/s by 3.6"),
    "speed_m_s": ("speed_kmh", "multiply m/s by 3.6"),
    "speed_mph": ("speed_kmh", "multiply by 1.609344"),
    "distance_m": ("km", "divide by 1000"),
    "km_m": ("km", "divide by 1000"),
    "m": ("km", "divide by 1000"),
}


class CarriedThroughput(BaseModel):
    """What a recording says the link carried (not its capacity), per direction, in bit/s."""

    model_config = ConfigDict(extra="forbid")
    direction: Literal["down", "up"]
    p50_bps: float
    p95_bps: float
    max_bps: float
    column: str = Field(description="the x_ column holding the per-row values")


class LinkInfo(BaseModel):
    """What one link of a trace is and where its rate came from."""

    model_config = ConfigDict(extra="forbid")
    provider: str = Field(description="operator, e.g. starlink, oneweb, kcell")
    technology: Literal["leo-satellite", "geo-satellite", "cellular", "other"] = "other"
    rate_origin: str = Field(
        default="measured",
        description="measured | user option | calibrated default (with the figure's source)",
    )
    carried: list[CarriedThroughput] = Field(default_factory=list)


class TraceMeta(BaseModel):
    """Everything about a trace that is not a row: provenance, time base, licence, hash."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["skybench-trace"] = FORMAT_NAME
    format_version: Literal[1] = FORMAT_VERSION
    source: Literal["recorded", "synthetic"]
    derived_from: list[str] = Field(default_factory=list, description="input files, route file, generator")
    importer: str | None = None
    provider: str = Field(default="unknown", description="provider of the trace's main link")
    route: str | None = None
    start_time: AwareDatetime
    time_zone: str = "UTC"
    licence: str = Field(min_length=1)
    attribution: str = ""
    content_sha256: str | None = None
    seed: int | None = None
    links: dict[str, LinkInfo] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Asia/Almaty, Europe/Berlin, UTC)") from exc
        return value


@dataclass
class Trace:
    """One trace: validated metadata and canonical table (sorted by t_s, link, direction)."""

    meta: TraceMeta
    table: pd.DataFrame

    @property
    def links(self) -> list[str]:
        return sorted(self.table["link"].unique())

    def rows(self, link: str, direction: str) -> pd.DataFrame:
        sel = (self.table["link"] == link) & (self.table["direction"] == direction)
        return self.table.loc[sel].reset_index(drop=True)

    @property
    def duration_s(self) -> float:
        """Last row time plus the typical step, since the last row holds for one step."""
        steps = [np.median(np.diff(g["t_s"].to_numpy())) for _, g in self.table.groupby(["link", "direction"]) if len(g) > 1]
        step = float(min(steps)) if steps else 1.0
        return float(self.table["t_s"].max()) + step


def build_trace(table: pd.DataFrame, meta: TraceMeta | dict, *, where: str = "<trace>",
                row_where: Callable[[int], str] | None = None) -> Trace:
    """Validate `table` and `meta`, put the table in canonical form and stamp its content hash."""
    if isinstance(meta, dict):
        meta = parse_meta(meta, where=where)
    canon = validate_table(table, where=where, row_where=row_where)
    links = dict(meta.links)
    for name in canon["link"].unique():
        links.setdefault(str(name), LinkInfo(provider=meta.provider))
    meta = meta.model_copy(update={"content_sha256": content_hash(canon), "links": links})
    return Trace(meta=meta, table=canon)


def parse_meta(raw: object, *, where: str) -> TraceMeta:
    from pydantic import ValidationError

    if not isinstance(raw, dict):
        raise BenchError("trace metadata is not a mapping of field: value", where=where,
                         fix="write metadata as 'key: value' lines (source, start_time, licence, ...)")
    try:
        return TraceMeta.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "metadata"
        raise BenchError(f"metadata field {field}: {first['msg']} (got {first.get('input')!r})",
                         where=f"{where} metadata {field}",
                         fix=_meta_fix(field)) from None


def _meta_fix(field: str) -> str:
    fixes = {
        "source": "set source: recorded (measured data) or synthetic (generated)",
        "start_time": "give an ISO 8601 time with its offset, e.g. 2025-01-30T18:02:49+01:00",
        "licence": "name the data's licence, e.g. CC-BY-4.0, or 'own measurement'",
        "time_zone": "use an IANA name such as Asia/Almaty",
    }
    return fixes.get(field.split(".")[0], f"fix or remove the field; known fields: {', '.join(TraceMeta.model_fields)}")


def content_hash(table: pd.DataFrame) -> str:
    """sha256 of the canonical table, independent of the file format it was stored in."""
    text = table.to_csv(index=False, lineterminator="\n", na_rep="")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- validation -----------------------------------------------------------------------------

def validate_table(table: pd.DataFrame, *, where: str,
                   row_where: Callable[[int], str] | None = None) -> pd.DataFrame:
    """Check every column and row; return the canonical table or raise one BenchError.

    `row_where(i)` turns the i-th row (0-based, in the table as given) into a location such as
    `file.csv:17`; the default names the 1-based data row.
    """
    locate = row_where or (lambda i: f"{where} row {i + 1}")
    _check_columns(list(table.columns), where)
    if len(table) == 0:
        raise BenchError("the trace has no rows", where=where,
                         fix="a trace needs at least one row per link and direction")
    src = table.reset_index(drop=True)
    out: dict[str, pd.Series] = {}

    out["t_s"] = _numbers(src, "t_s", locate, required=True)
    _in_range(out["t_s"], "t_s", locate, lo=0.0, hi=None, expect="seconds from the trace start, >= 0")
    out["link"] = _strings(src, "link", locate)
    bad = ~out["link"].map(lambda s: bool(LINK_NAME.match(s)))
    _fail_first(bad, "link", locate, out["link"],
                "a link name: lower-case letters, digits, '-' or '_', starting with a letter (e.g. starlink)")
    out["direction"] = _strings(src, "direction", locate)
    _fail_first(~out["direction"].isin(DIRECTIONS), "direction", locate, out["direction"], "'down' or 'up'")
    out["delay_ms"] = _numbers(src, "delay_ms", locate, required=True)
    _in_range(out["delay_ms"], "delay_ms", locate, lo=0.0, hi=60_000.0, expect="one-way delay in ms, 0 to 60000")
    if "jitter_ms" in src:
        out["jitter_ms"] = _numbers(src, "jitter_ms", locate, required=True)
        _in_range(out["jitter_ms"], "jitter_ms", locate, lo=0.0, hi=60_000.0, expect="jitter in ms, >= 0")
    else:
        out["jitter_ms"] = pd.Series(0.0, index=src.index)
    out["loss"] = _numbers(src, "loss", locate, required=True)
    _in_range(out["loss"], "loss", locate, lo=0.0, hi=1.0, expect="a loss fraction from 0 to 1 (not percent)")
    out["loss_burst_pkts"] = _optional_numbers(src, "loss_burst_pkts", locate)
    _in_range(out["loss_burst_pkts"], "loss_burst_pkts", locate, lo=1.0, hi=None, expect="mean burst length >= 1 packet")
    out["rate_bps"] = _rates(src, locate)
    out["outage"] = _bools(src, "outage", locate)
    for name, lo, hi, expect in (("km", 0.0, 1e5, "km along the route, >= 0"),
                                 ("lat", -90.0, 90.0, "latitude in degrees, -90 to 90"),
                                 ("lon", -180.0, 180.0, "longitude in degrees, -180 to 180"),
                                 ("speed_kmh", 0.0, 1000.0, "speed in km/h, 0 to 1000")):
        out[name] = _optional_numbers(src, name, locate)
        _in_range(out[name], name, locate, lo=lo, hi=hi, expect=expect)
    for name in sorted(c for c in src.columns if c.startswith(EXTRA_PREFIX)):
        out[name] = _extra(src[name])

    canon = pd.DataFrame(out)
    _check_time_order(canon, locate)
    order = np.lexsort((canon["direction"].to_numpy(), canon["link"].to_numpy(), canon["t_s"].to_numpy()))
    return canon.iloc[order].reset_index(drop=True)


IMPORT_HINT = ("convert it with `skybench trace import KIND FILE -o OUT.parquet` (kinds: starlink-dish, ping, "
               "iperf3-json, throughput-csv, mahimahi)")


def _check_columns(columns: list[object], where: str) -> None:
    names = {str(c) for c in columns}
    if sum(1 for c in REQUIRED if c not in names) > len(REQUIRED) // 2:
        shown = ", ".join(str(c) for c in columns[:8]) + (", ..." if len(columns) > 8 else "")
        raise BenchError(f"not a skybench trace: its columns are {shown or 'none'}; expected {', '.join(REQUIRED)}",
                         where=where, fix=f"if the file comes from another tool, {IMPORT_HINT}")
    seen: set[str] = set()
    for col in columns:
        if not isinstance(col, str):
            raise BenchError(f"column name {col!r} is not text", where=where, fix="name every column")
        if col in seen:
            raise BenchError(f"column {col} appears twice", where=f"{where} column {col}", fix="keep one of them")
        seen.add(col)
        if col in COLUMN_NAMES or (col.startswith(EXTRA_PREFIX) and len(col) > len(EXTRA_PREFIX)):
            continue
        key = col.strip().lower().replace("(", "_").replace(")", "").replace("/", "_").replace("-", "_")
        if key in _UNIT_HINTS:
            target, how = _UNIT_HINTS[key]
            raise BenchError(f"column {col} has the wrong unit or name: expected {target}",
                             where=f"{where} column {col}", fix=f"convert to {target} ({how}) and rename the column")
        raise BenchError(
            f"unknown column {col}: expected only {', '.join(COLUMN_NAMES)} or extra columns named x_<name>_<unit>",
            where=f"{where} column {col}",
            fix=f"rename or drop it; if this file comes from another tool, {IMPORT_HINT}")
    missing = [c for c in REQUIRED if c not in seen]
    if missing:
        spec = {c.name: c.meaning for c in COLUMNS}
        raise BenchError(
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
            where=where,
            fix="; ".join(f"{m}: {spec[m]}" for m in missing)
                + f". If the file comes from another tool, {IMPORT_HINT}")


def _show(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (np.integer, np.bool_)):
        return repr(value.item())
    return repr(value)


def _fail_first(bad: pd.Series, col: str, locate: Callable[[int], str], values: pd.Series, expect: str) -> None:
    if bool(bad.any()):
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise BenchError(f"column {col} is {_show(values.iloc[i])}: expected {expect}",
                         where=f"{locate(i)} column {col}", fix=f"correct the value: {col} must be {expect}")


_MISSING_TEXT = {"", "nan", "na", "n/a", "null", "none"}


def _blank(series: pd.Series) -> pd.Series:
    """Missing cells: None, NA, NaN, or text such as '' and 'nan'."""
    as_obj = series.astype(object)
    return as_obj.map(lambda v: v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                      or (isinstance(v, str) and v.strip().lower() in _MISSING_TEXT))


def _to_float(series: pd.Series, col: str, locate: Callable[[int], str]) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        raise BenchError(f"column {col} holds true/false: expected a number", where=f"{locate(0)} column {col}",
                         fix=f"write {col} as a number")
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    blank = _blank(series)
    as_num = pd.to_numeric(series.astype(object).where(~blank, None), errors="coerce")
    bad = as_num.isna() & ~blank
    if bool(bad.any()):
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise BenchError(f"column {col} is {_show(series.iloc[i])}: expected a number", where=f"{locate(i)} column {col}",
                         fix=f"write a plain number (units go in the column name: {col})")
    return as_num.astype("float64")


def _numbers(src: pd.DataFrame, col: str, locate: Callable[[int], str], *, required: bool) -> pd.Series:
    values = _to_float(src[col], col, locate)
    if required:
        bad = values.isna() | np.isinf(values)
        if bool(bad.any()):
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise BenchError(f"column {col} is empty, NaN or infinite: a value is required",
                             where=f"{locate(i)} column {col}",
                             fix=f"give every row a finite {col}")
    return values


def _optional_numbers(src: pd.DataFrame, col: str, locate: Callable[[int], str]) -> pd.Series:
    if col not in src:
        return pd.Series(np.nan, index=src.index, dtype="float64")
    values = _to_float(src[col], col, locate)
    bad = np.isinf(values)
    _fail_first(bad, col, locate, values, "a finite number or empty")
    return values


def _in_range(values: pd.Series, col: str, locate: Callable[[int], str], *, lo: float | None,
              hi: float | None, expect: str) -> None:
    bad = pd.Series(False, index=values.index)
    if lo is not None:
        bad |= values < lo
    if hi is not None:
        bad |= values > hi
    _fail_first(bad.fillna(False), col, locate, values, expect)


def _strings(src: pd.DataFrame, col: str, locate: Callable[[int], str]) -> pd.Series:
    series = src[col]
    blank = _blank(series)
    if bool(blank.any()):
        i = int(np.flatnonzero(blank.to_numpy())[0])
        raise BenchError(f"column {col} is empty: a value is required", where=f"{locate(i)} column {col}",
                         fix=f"give every row a {col}")
    notstr = series.astype(object).map(lambda v: not isinstance(v, str))
    if bool(notstr.any()):
        i = int(np.flatnonzero(notstr.to_numpy())[0])
        raise BenchError(f"column {col} is {_show(series.iloc[i])}: expected text", where=f"{locate(i)} column {col}",
                         fix=f"write {col} as text")
    return series.astype(object).map(str.strip).astype(object)


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _bools(src: pd.DataFrame, col: str, locate: Callable[[int], str]) -> pd.Series:
    series = src[col]
    if pd.api.types.is_bool_dtype(series) and not series.isna().any():
        return series.astype(bool)

    def parse(v: object) -> bool | None:
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, np.integer)) and v in (0, 1):
            return bool(v)
        if isinstance(v, (float, np.floating)) and v in (0.0, 1.0):
            return bool(v)
        if isinstance(v, str):
            low = v.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
        return None

    parsed = series.astype(object).map(parse)
    bad = parsed.isna()
    _fail_first(bad, col, locate, series, "true or false")
    return parsed.astype(bool)


def _rates(src: pd.DataFrame, locate: Callable[[int], str]) -> pd.Series:
    values = _to_float(src["rate_bps"], "rate_bps", locate)
    present = values.notna()
    bad = present & (np.isinf(values) | (values <= 0) | (values != np.round(values)) | (values > 1e13))
    _fail_first(bad, "rate_bps", locate, values,
                "a whole number of bit/s > 0 (empty means unlimited; an outage goes in the outage column)")
    return values.round().astype("Int64")


def _extra(series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.astype("float64")
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    blank = _blank(series)
    as_num = pd.to_numeric(series.astype(object).where(~blank, None), errors="coerce")
    if bool((as_num.isna() & ~blank).any()):
        return series.astype(object).map(lambda v: "" if v is None or v is pd.NA else str(v)).astype(object)
    return as_num.astype("float64")


def _check_time_order(canon: pd.DataFrame, locate: Callable[[int], str]) -> None:
    for (link, direction), group in canon.groupby(["link", "direction"], sort=False):
        times = group["t_s"].to_numpy()
        if len(times) < 2:
            continue
        steps = np.diff(times)
        bad = np.flatnonzero(steps <= 0)
        if len(bad):
            k = bad[0]
            i = int(group.index[k + 1])
            kind = "duplicate" if steps[k] == 0 else "unsorted"
            raise BenchError(
                f"{kind} time for link {link} {direction}: t_s {times[k + 1]!r} after {times[k]!r}",
                where=f"{locate(i)} column t_s",
                fix="times must be strictly increasing per link and direction: sort the rows and remove duplicates")
