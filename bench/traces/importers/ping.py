"""ping logs: `ping -D` output (optionally with -O) and `time,rtt_ms` CSV.

Each probe is a round trip; probes are grouped into bins of `interval_s` (default 1 s):
- delay_ms = median RTT of the bin's replies / 2 (one way, split evenly: ping cannot tell the halves),
- jitter_ms = standard deviation of those RTTs / 2,
- loss = lost / sent in the bin,
- outage when every probe of the bin was lost (so a run of lost replies spanning whole bins becomes
  an outage); the delay holds its last measured value there.
Lost probes in `ping -D` output are the sequence numbers with no reply (and `no answer yet`
lines from -O); their send time is interpolated from the sequence number.
Bins with no probe at all (the log stopped) produce no row: values hold, and the notes say so.
ping says nothing of capacity: rate_bps is the user's option, else unlimited (empty).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.traces.importers.common import ImportOptions, finish, hold_last, long_table, provenance, to_utc
from bench.traces.schema import Trace

KIND = "ping"
SUMMARY = "ping -D output or time,rtt_ms CSV -> delay, jitter, loss per interval, outages from lost runs"

REPLY = re.compile(r"^\[(?P<ts>\d+(?:\.\d+)?)\].*?icmp_seq=(?P<seq>\d+).*?time[=<](?P<rtt>\d+(?:\.\d+)?) ?ms")
NO_ANSWER = re.compile(r"^\[(?P<ts>\d+(?:\.\d+)?)\] no answer yet for icmp_seq=(?P<seq>\d+)")
SEQ_WRAP = 65536


def read(path: Path, options: ImportOptions) -> Trace:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BenchError("not a text file", where=where, fix="give ping -D output or a time,rtt_ms CSV") from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.replace(" ", "").lower().startswith("time,rtt_ms"):
        send_s, rtt, notes = _from_csv(path)
    else:
        send_s, rtt, notes = _from_ping_output(text, where)
    interval = options.interval_s or 1.0
    t0 = float(send_s[0])
    start = pd.Timestamp(t0, unit="s", tz="UTC")
    # ping -D prints microseconds: round there so float noise cannot move a probe across a bin edge
    bins = np.floor(np.round(send_s - t0, 6) / interval).astype(np.int64)
    frame = pd.DataFrame({"bin": bins, "rtt": rtt, "lost": ~np.isfinite(rtt)})
    grouped = frame.groupby("bin")
    sent = grouped.size()
    lost = grouped["lost"].sum()
    median = grouped["rtt"].median()
    spread = grouped["rtt"].std(ddof=0).fillna(0.0)
    idx = sent.index.to_numpy()
    outage = (lost == sent).to_numpy()
    if outage.all():
        raise BenchError("every probe was lost: no delay to build a trace from", where=where,
                         fix="give a log with at least one reply")
    delay = hold_last(median.to_numpy() / 2.0, ~outage)
    jitter = np.where(outage, 0.0, spread.to_numpy() / 2.0)
    empty_bins = int(idx[-1] + 1 - len(idx))
    if empty_bins:
        notes.append(f"{empty_bins} interval(s) had no probe (log gap): the previous values hold there")
    notes.append("one-way delay = median RTT / 2 per interval; jitter = RTT standard deviation / 2")
    rate_down, rate_up = options.rate_down_bps, options.rate_up_bps
    rate_origin = "user option" if (rate_down or rate_up) else "not in the source: unlimited unless set"
    link = options.link or "wan"
    shared = {"delay_ms": delay, "jitter_ms": jitter, "loss": (lost / sent).to_numpy(), "outage": outage}
    table = long_table(idx * interval, link, {"down": {"rate_bps": rate_down}, "up": {"rate_bps": rate_up}},
                       shared)
    table["rate_bps"] = table["rate_bps"].astype("Int64")
    prov = provenance(path, options)
    return finish(table, kind=KIND, prov=prov, options=options, start=start, link=link,
                  provider=prov.provider or "unknown", technology="other", rate_origin=rate_origin,
                  notes=notes, where=where)


def _from_ping_output(text: str, where: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    replies: dict[int, tuple[float, float]] = {}
    unanswered: dict[int, float] = {}
    last_raw, wraps = None, 0
    seqs_seen = 0
    for line in text.splitlines():
        match = REPLY.match(line) or NO_ANSWER.match(line)
        if not match:
            continue
        raw = int(match["seq"])
        if last_raw is not None and raw < last_raw - SEQ_WRAP // 2:
            wraps += 1  # icmp_seq wrapped around at 65536
        last_raw = raw
        seq = raw + wraps * SEQ_WRAP
        seqs_seen += 1
        ts = float(match["ts"])
        if "rtt" in match.groupdict() and match["rtt"] is not None:
            if seq not in replies:  # a DUP! reply repeats a sequence number: keep the first
                replies[seq] = (ts - float(match["rtt"]) / 1000.0, float(match["rtt"]))
        else:
            unanswered.setdefault(seq, ts)
    if not replies:
        raise BenchError("no timestamped ping replies found", where=where,
                         fix="record with `ping -D HOST` (timestamps in [brackets]), or give a time,rtt_ms CSV")
    seq_all = np.arange(min(replies), max(max(replies), max(unanswered, default=0)) + 1)
    got = np.array(sorted(replies))
    send_known = np.array([replies[s][0] for s in got])
    if len(got) >= 2:
        slope, intercept = np.polyfit(got, send_known, 1)
    else:
        slope, intercept = 1.0, send_known[0] - got[0]
    send = intercept + slope * seq_all.astype(float)
    rtt = np.full(len(seq_all), np.nan)
    pos = got - seq_all[0]
    send[pos] = send_known
    rtt[pos] = [replies[s][1] for s in got]
    order = np.argsort(send, kind="stable")
    notes = [f"{len(seq_all) - len(got)} of {len(seq_all)} probes lost (missing sequence numbers)"]
    return send[order], rtt[order], notes


def _from_csv(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    where = str(path)
    try:
        frame = pd.read_csv(path, skipinitialspace=True, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas' parser raises several types; all mean "not this CSV"
        raise BenchError(f"cannot read the ping CSV ({type(exc).__name__}: {str(exc)[:160]})", where=where,
                         fix="give a CSV with the header time,rtt_ms") from None
    if len(frame) == 0:
        raise BenchError("the ping CSV has no rows", where=where, fix="give at least one probe")
    raw_time = frame["time"]
    numeric_time = pd.to_numeric(raw_time, errors="coerce")
    times = to_utc(numeric_time if numeric_time.notna().all() else raw_time, where=where, column="time")
    send = (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    rtt_text = frame["rtt_ms"].str.strip()
    rtt = pd.to_numeric(rtt_text, errors="coerce").to_numpy(dtype="float64")
    lost_words = rtt_text.str.lower().isin(["", "nan", "lost", "timeout", "-"])
    bad = np.flatnonzero(np.isnan(rtt) & ~lost_words.to_numpy())
    if len(bad):
        i = int(bad[0])
        raise BenchError(f"rtt_ms is {rtt_text.iloc[i]!r}: expected milliseconds, or empty for a lost reply",
                         where=f"{where}:{i + 2} column rtt_ms", fix="write the RTT in ms; leave lost ones empty")
    neg = np.flatnonzero(rtt < 0)
    if len(neg):
        raise BenchError(f"rtt_ms is {rtt[neg[0]]}: expected >= 0", where=f"{where}:{int(neg[0]) + 2} column rtt_ms",
                         fix="RTTs cannot be negative")
    back = np.flatnonzero(np.diff(send) < 0)
    if len(back):
        i = int(back[0]) + 1
        raise BenchError("time goes backwards", where=f"{where}:{i + 2} column time",
                         fix="sort the probes by send time")
    return send, rtt, [f"{int(np.isnan(rtt).sum())} of {len(rtt)} probes lost (empty rtt_ms)"]
