"""mahimahi delivery-opportunity traces (mm-link): one line per 1500-byte packet opportunity.

Each line is a millisecond timestamp at which the link may deliver one MTU-sized (1500 byte)
packet; a timestamp repeated n times is n opportunities. Opportunities are counted per
`interval_s` (default 1 s): rate_bps = count x 1500 x 8 / interval. An interval without any
opportunity is an outage (the rate holds its last value). The trace covers [0, last timestamp]
(mahimahi loops it; the bench's replay loops on its own).
A mahimahi trace is one direction (`direction`, default down) and carries no delay
(mm-delay is separate): delay_ms is the user's option, default 0 ms extra delay.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.traces.importers.common import ImportOptions, finish, hold_last, long_table, provenance
from bench.traces.schema import Trace

KIND = "mahimahi"
SUMMARY = "mahimahi delivery-opportunity trace (ms per 1500-byte packet) -> rate per interval, empty -> outage"
PACKET_BITS = 1500 * 8


def read(path: Path, options: ImportOptions) -> Trace:
    where = str(path)
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise BenchError("not a text file of millisecond timestamps", where=where,
                         fix="give a mahimahi trace: one integer (ms) per line") from None
    stamps: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        word = line.strip()
        if not word:
            continue
        if not word.isdigit():
            raise BenchError(f"{word[:40]!r} is not a whole number of milliseconds", where=f"{where}:{number}",
                             fix="a mahimahi trace has one integer timestamp (ms) per line")
        value = int(word)
        if stamps and value < stamps[-1]:
            raise BenchError(f"timestamp {value} ms is before the previous one ({stamps[-1]} ms)",
                             where=f"{where}:{number}", fix="timestamps must not decrease")
        stamps.append(value)
    if not stamps:
        raise BenchError("no timestamps in the file", where=where, fix="give at least one delivery opportunity")
    if stamps[-1] == 0:
        raise BenchError("the trace lasts 0 ms (all opportunities at time 0)", where=where,
                         fix="a mahimahi trace must end after time 0")
    interval = options.interval_s or 1.0
    interval_ms = interval * 1000.0
    n_bins = max(1, int(np.ceil(stamps[-1] / interval_ms)))
    # mahimahi's opportunities lie in (0, period]: bin k covers (k*interval, (k+1)*interval].
    bins = np.clip(np.ceil(np.asarray(stamps) / interval_ms).astype(np.int64) - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    outage = counts == 0
    rate = np.round(hold_last(counts * PACKET_BITS / interval, ~outage)).astype(np.int64)
    direction = options.direction or "down"
    delay = options.delay_ms if options.delay_ms is not None else 0.0
    notes = [f"one direction ({direction}) from a mahimahi trace; {len(stamps)} opportunities over "
             f"{stamps[-1]} ms, binned per {interval} s",
             f"delay {delay} ms: " + ("user option" if options.delay_ms is not None else
                                      "default; mahimahi traces carry no delay")]
    if options.start_time is None:
        notes.append("start time not in the source: set to the Unix epoch (pass --start-time)")
    start = pd.Timestamp(options.start_time) if options.start_time else pd.Timestamp(0, unit="s", tz="UTC")
    link = options.link or "wan"
    table = long_table(np.arange(n_bins) * interval, link,
                       {direction: {"rate_bps": rate, "outage": outage, "loss": np.where(outage, 1.0, 0.0)}},
                       {"delay_ms": delay, "jitter_ms": 0.0})
    prov = provenance(path, options)
    return finish(table, kind=KIND, prov=prov, options=options, start=start, link=link,
                  provider=prov.provider or "unknown", technology="other",
                  rate_origin="measured (delivery opportunities)", notes=notes, where=where)
