"""iperf3 `--json` results: each interval's achieved bit rate becomes the link rate.

A saturating iperf3 run measures what the link delivered, which is the usual estimate of its
capacity; intervals with 0 bit/s are outages (the rate holds its last non-zero value).
Direction: the iperf3 client is taken to be on the train (`--direction` overrides): a normal run
sends train->ground (up), `-R` ground->train (down), `--bidir` both.
Delay: TCP intervals carry the sender's smoothed RTT per stream (`rtt`, microseconds): one-way
delay = mean RTT / 2. Otherwise (UDP, or the receiving side of -R) the delay option is required.
UDP intervals carry `lost_percent` (-> loss) and `jitter_ms` (-> jitter_ms).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.traces.importers.common import ImportOptions, finish, hold_last, long_table, provenance
from bench.traces.schema import Trace

KIND = "iperf3-json"
SUMMARY = "iperf3 --json result -> rate per interval (0 bit/s -> outage), TCP RTT -> delay, UDP loss/jitter"


def read(path: Path, options: ImportOptions) -> Trace:
    where = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"not a JSON file ({exc})", where=where, fix="run iperf3 with --json and save its output") from None
    if not isinstance(doc, dict) or "intervals" not in doc or "start" not in doc:
        raise BenchError("not an iperf3 --json result: no 'start' and 'intervals'", where=where,
                         fix="give the output of `iperf3 -c HOST --json`")
    if doc.get("error"):
        raise BenchError(f"iperf3 reported an error: {doc['error']}", where=where, fix="repeat the measurement")
    test = doc["start"].get("test_start", {}) if isinstance(doc["start"], dict) else {}
    reverse, bidir = bool(test.get("reverse")), bool(test.get("bidir"))
    forward = options.direction or ("down" if reverse else "up")
    other = "up" if forward == "down" else "down"
    try:
        timesecs = float(doc["start"]["timestamp"]["timesecs"])
    except (KeyError, TypeError, ValueError):
        raise BenchError("the result has no start timestamp (start.timestamp.timesecs)", where=where,
                         fix="give the complete --json output") from None
    start = options.start_time or pd.Timestamp(timesecs, unit="s", tz="UTC")
    intervals = doc["intervals"]
    if not isinstance(intervals, list) or not intervals:
        raise BenchError("the result has no intervals", where=where, fix="run iperf3 for at least one interval")

    series = {forward: _direction(intervals, "sum", where, sender_side=not reverse)}
    if bidir:
        series[other] = _direction(intervals, "sum_bidir_reverse", where, sender_side=reverse)
    t_s = series[forward]["t_s"]
    notes = ["rate_bps is the bit rate iperf3 achieved in each interval (a saturating test's estimate of capacity)"]
    per_direction: dict[str, dict[str, object]] = {}
    for direction, s in series.items():
        delay = s["delay_ms"]
        if not np.isfinite(delay).any():
            if options.delay_ms is None:
                raise BenchError("the result has no RTT for this direction (UDP, or the receiving side of -R)",
                                 where=where, fix="pass the one-way delay with --delay-ms")
            delay = np.full(len(t_s), options.delay_ms)
            notes.append(f"{direction}: delay {options.delay_ms} ms from the user option (not in the source)")
        else:
            delay = hold_last(delay, np.isfinite(delay))
            notes.append(f"{direction}: one-way delay = mean TCP RTT of the streams / 2")
        rate = s["rate_bps"]
        outage = rate <= 0
        if outage.all():
            raise BenchError(f"every interval of the {direction} direction carried 0 bit/s", where=where,
                             fix="the measurement failed: repeat it")
        per_direction[direction] = {"delay_ms": delay, "jitter_ms": s["jitter_ms"], "loss": s["loss"],
                                    "rate_bps": np.round(hold_last(rate, ~outage)).astype(np.int64),
                                    "outage": outage}
    link = options.link or "wan"
    table = long_table(t_s, link, per_direction)
    prov = provenance(path, options)
    return finish(table, kind=KIND, prov=prov, options=options, start=pd.Timestamp(start), link=link,
                  provider=prov.provider or "unknown", technology="other", rate_origin="measured (iperf3)",
                  notes=notes, where=where)


def _direction(intervals: list, key: str, where: str, *, sender_side: bool) -> dict[str, np.ndarray]:
    t_s, rate, loss, jitter, delay = [], [], [], [], []
    for i, interval in enumerate(intervals):
        try:
            total = interval[key]
            t_s.append(float(total["start"]))
            rate.append(float(total["bits_per_second"]))
            loss.append(float(total.get("lost_percent", 0.0) or 0.0) / 100.0)
            jitter.append(float(total.get("jitter_ms", 0.0) or 0.0))
            # Only the sending side of a TCP stream reports an RTT; in a --bidir result the
            # client's reverse streams are receivers (sender false) and carry none.
            rtts = [float(s["rtt"]) for s in interval.get("streams", [])
                    if sender_side and key == "sum" and s.get("rtt") is not None and s.get("sender", True)]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise BenchError(f"interval {i + 1} lacks {key}.start / {key}.bits_per_second", where=f"{where} "
                             f"intervals[{i}]", fix="give the complete --json output of iperf3") from None
        delay.append(np.mean(rtts) / 1000.0 / 2.0 if rtts else np.nan)
    return {"t_s": np.array(t_s), "rate_bps": np.array(rate), "loss": np.clip(loss, 0, 1),
            "jitter_ms": np.array(jitter), "delay_ms": np.array(delay)}
