"""The replay clock without a lab: schedule, compression, windows, coalescing, validation,
the step log (also after a SIGKILL), pause and loop. Steps go to the dry-run target, which plays
the schedule and logs it but changes no link; the lab tests (test_replay_lab.py) drive real links."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.errors import BenchError
from bench.traces import build_trace
from bench.traces.replay import (Replay, map_links, parse_km_range, parse_trace_time, plan_replay, timing_errors_ms,
                                 to_impairment)
from bench.traces.steplog import read_step_log
from tests.traces.conftest import FJORD_2025, small_trace

META = {"source": "synthetic", "start_time": "2025-01-01T00:00:00+00:00", "licence": "CC0-1.0"}
REPO = Path(__file__).resolve().parents[2]


def two_link_trace(seconds: int = 20, step_s: float = 1.0, with_km: bool = True):
    rows = []
    for i in range(int(seconds / step_s)):
        t = i * step_s
        for link, base in (("oneweb", 27.0), ("lte", 25.0)):
            for direction in ("down", "up"):
                rows.append({"t_s": t, "link": link, "direction": direction, "delay_ms": base + i % 4,
                             "loss": 0.0, "rate_bps": 50_000_000, "outage": link == "oneweb" and 10 <= t < 13,
                             "km": 100.0 + t * 0.5 if with_km else None})
    return build_trace(pd.DataFrame(rows), META)


def test_schedule_is_in_time_order_and_compressed_by_speed() -> None:
    trace = two_link_trace()
    plan = plan_replay(trace, speed=10)
    at = [s.at_s for s in plan.steps]
    assert at == sorted(at)
    # every (link, direction) has one step per row: 20 rows each, 4 series
    assert len(plan.steps) == 80 and plan.coalesced_rows == 0
    for step in plan.steps:
        assert step.at_s == pytest.approx(step.trace_t / 10)
    # trace directions drive the matching link directions, values carried over
    first = next(s for s in plan.steps if s.link == "oneweb" and s.direction == "up")
    assert first.impairment.delay_ms == 27.0 and first.impairment.rate_bps == 50_000_000
    assert plan.outages()[0].link == "oneweb"
    assert plan.outages()[0].start_t == 10 and plan.outages()[0].end_t == 13


def test_spans_where_finds_one_direction_rate_dips_per_link() -> None:
    rows = []
    for t in range(10):
        for direction in ("down", "up"):
            rate = 300_000 if direction == "up" and 4 <= t < 7 else 20_000_000
            rows.append({"t_s": float(t), "link": "starlink", "direction": direction, "delay_ms": 30.0, "loss": 0.0,
                         "rate_bps": rate, "outage": False})
    plan = plan_replay(build_trace(pd.DataFrame(rows), META), speed=1)
    dips = plan.spans_where(lambda direction, imp: imp.rate_bps is not None and imp.rate_bps < 1_000_000)
    assert [(d.link, d.start_t, d.end_t) for d in dips] == [("starlink", 4.0, 7.0)]
    assert plan.spans_where(lambda direction, imp: direction == "down" and imp.rate_bps < 1_000_000) == []
    assert plan.outages() == []


def test_dry_run_plays_on_schedule_and_logs_every_step(tmp_path: Path) -> None:
    plan = plan_replay(two_link_trace(seconds=10), speed=20)
    start = time.monotonic()
    with Replay(plan, log_dir=tmp_path) as replay:
        assert replay.wait(timeout=10)
    elapsed = time.monotonic() - start
    assert elapsed == pytest.approx(plan.wall_s, abs=0.3)  # 10 s of trace in 0.5 s
    assert [a.step for a in replay.applied] == plan.steps
    log = read_step_log(tmp_path)
    assert len(log) == len(plan.steps) and list(log["seq"]) == list(range(len(plan.steps)))
    assert (log["applied_unix_s"] >= log["scheduled_unix_s"]).all()
    # generous bound: this test checks the clock works, the benchmark measures how well
    assert np.percentile(timing_errors_ms(replay.applied), 50) < 20


def test_windows_by_time_and_km() -> None:
    trace = two_link_trace()
    plan = plan_replay(trace, from_="00:00:05", to=12.5)
    assert (plan.t0, plan.t1) == (5.0, 12.5)
    assert min(s.trace_t for s in plan.steps) == 5.0 and max(s.trace_t for s in plan.steps) == 12.0
    assert min(s.at_s for s in plan.steps) == 0.0
    # km 102 is reached at t=4 s, km 105 at t=10 s
    by_km = plan_replay(trace, km=(102, 105))
    assert by_km.t0 == pytest.approx(4.0) and by_km.t1 == pytest.approx(10.0)
    assert plan_replay(trace, km="102-105").t0 == pytest.approx(4.0)
    assert by_km.time_at_km(103.25, 4.0) == pytest.approx(6.5)
    # a window starting between rows starts with the row in force then
    mid = plan_replay(trace, from_=5.5, to=8)
    assert min(s.trace_t for s in mid.steps) == 5.5 and mid.steps[0].values["delay_ms"] in (26.0, 28.0)


def test_time_and_km_parsing() -> None:
    assert parse_trace_time("02:10:00") == 7800
    assert parse_trace_time("10:30") == 630
    assert parse_trace_time("7800.5") == 7800.5
    assert parse_km_range("400-520") == (400, 520)
    for bad in ("2:61:00", "abc", "-3"):
        with pytest.raises(BenchError):
            parse_trace_time(bad)
    with pytest.raises(BenchError, match="end must be after"):
        parse_km_range("520-400")
    trace = two_link_trace()
    with pytest.raises(BenchError, match="not both"):
        plan_replay(trace, from_=1, km=(100, 102))
    with pytest.raises(BenchError, match="never reaches km 900"):
        plan_replay(trace, km=(900, 950))
    with pytest.raises(BenchError, match="not after"):
        plan_replay(trace, from_=8, to=3)
    with pytest.raises(BenchError, match="no km values"):
        plan_replay(two_link_trace(with_km=False), km=(1, 2))


def test_high_speed_coalesces_rows_and_keeps_delivered_fraction() -> None:
    # 10 rows per second for 4 s; at speed 50 they are 2 ms apart, below the 10 ms step interval
    rows = []
    for i in range(40):
        out = 10 <= i < 12  # a 0.2 s outage
        rows.append({"t_s": i / 10, "link": "starlink", "direction": "down", "delay_ms": 10.0 + (i % 2) * 10,
                     "loss": 0.0, "rate_bps": 1_000_000 * (1 + i % 2), "outage": out})
    trace = build_trace(pd.DataFrame(rows), META)
    plan = plan_replay(trace, speed=50, min_step_s=0.010)
    assert len(plan.steps) == 8 and all(s.rows == 5 for s in plan.steps)  # 5 rows per 10 ms step
    assert plan.coalesced_rows == 32
    assert [s.at_s for s in plan.steps] == pytest.approx([0.01 * k for k in range(8)])
    plain = plan.steps[0].values
    assert plain["delay_ms"] == pytest.approx(14.0) and plain["rate_bps"] == 1_400_000  # time-weighted
    hit = plan.steps[2].values  # rows 10-14: 2 of 5 rows out, under half: folded into loss
    assert hit["outage"] is False and hit["loss"] == pytest.approx(0.4)
    assert hit["delay_ms"] == pytest.approx(40 / 3)  # mean over the rows that are up (10, 20, 10)
    # at real time nothing is coalesced
    assert plan_replay(trace, speed=1).coalesced_rows == 0


def test_bad_rows_fail_before_any_step_and_name_the_row() -> None:
    table = two_link_trace().table.copy()
    table.loc[table.index[-3], "rate_bps"] = 500  # valid in a trace, below what the emulator can do
    trace = build_trace(table, META)
    with pytest.raises(BenchError) as err:
        plan_replay(trace, name="bad.parquet")
    assert "bad.parquet row" in err.value.message and "rate_bps" in err.value.message
    # outside the window the same row does not matter
    assert plan_replay(trace, to=5).steps


def test_link_mapping() -> None:
    assert map_links(["starlink"], ["oneweb", "starlink", "lte"]) == {"starlink": "starlink"}
    assert map_links(["sat"], ["oneweb"], {"sat": "oneweb"}) == {"sat": "oneweb"}
    with pytest.raises(BenchError, match="has no WAN in the lab"):
        map_links(["sat", "lte"], ["oneweb", "lte"])
    assert map_links(["sat", "lte"], ["oneweb", "lte"], ignore_unmapped=True) == {"sat": None, "lte": "lte"}
    assert map_links(["sat", "lte"], ["oneweb", "lte"], {"sat": None}) == {"sat": None, "lte": "lte"}
    with pytest.raises(BenchError, match="more than one trace link"):
        map_links(["a", "b"], ["oneweb"], {"a": "oneweb", "b": "oneweb"})
    with pytest.raises(BenchError, match="does not have"):
        map_links(["a"], ["oneweb"], {"a": "starlink"})


def test_impairment_mapping() -> None:
    imp = to_impairment({"delay_ms": 20.0, "jitter_ms": 2.0, "loss": 0.1, "loss_burst_pkts": 4.0,
                         "rate_bps": None, "outage": False}, where="x")
    assert imp.jitter_ms == pytest.approx(2.0 * 3 ** 0.5) and imp.jitter_keeps_order
    assert imp.ge_r == pytest.approx(0.25) and imp.ge_p / (imp.ge_p + imp.ge_r) == pytest.approx(0.1)
    assert imp.rate_bps is None


def test_pause_freezes_the_clock_and_loop_restarts(tmp_path: Path) -> None:
    plan = plan_replay(small_trace(rows=10), speed=10)  # 1 s of wall time per pass
    with Replay(plan, loop=True) as replay:
        time.sleep(0.3)
        replay.pause()
        held = replay.trace_time()
        count = len(replay.applied)
        time.sleep(0.4)
        assert replay.trace_time() == held and len(replay.applied) == count
        replay.resume()
        time.sleep(1.2)
        assert len({a.loop for a in replay.applied}) >= 2  # played past the end into a second pass
        assert plan.t0 <= replay.trace_time() <= plan.t1


def test_wait_for_km_and_next_outage() -> None:
    plan = plan_replay(two_link_trace(), speed=20)
    with Replay(plan) as replay:
        t = replay.wait_for_km(103, timeout=5)
        assert t >= 6.0 and replay.km() >= 103
        outage = replay.wait_for_next_outage(timeout=5)
        assert outage.link == "oneweb" and outage.start_t == 10
        assert any(a.step.impairment.outage for a in replay.applied)
        with pytest.raises(BenchError, match="already past km 99"):
            replay.wait_for_km(99)
        with pytest.raises(BenchError, match="does not come"):
            replay.wait_for_km(500)


def test_step_log_survives_sigkill(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from bench.traces.importers import import_trace
        from bench.traces.replay import Replay, plan_replay
        trace = import_trace("starlink-dish", {str(FJORD_2025)!r})
        plan = plan_replay(trace, speed=100, to=600)
        replay = Replay(plan, log_dir={str(tmp_path)!r}).start()
        print("started", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        time.sleep(2.0)
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    log = read_step_log(tmp_path)
    # about 2 s x 100 = 200 s of trace, 2 steps per second of trace; at most the last 0.1 s lost
    assert len(log) > 100, f"only {len(log)} steps logged before the kill"
    assert list(log["seq"]) == list(range(len(log)))  # whole, in order, nothing torn
    assert log["applied_unix_s"].max() < killed_at
    assert killed_at - log["applied_unix_s"].max() < 0.5
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".") and p.suffix != ".parquet"]


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**12), st.none(),
                    st.sampled_from(["", "x", "1e3", "-1"]))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=st.integers(0, 11), column=st.sampled_from(["delay_ms", "jitter_ms", "loss", "loss_burst_pkts",
                                                      "rate_bps", "km", "t_s"]), value=_values,
       speed=st.floats(min_value=0.5, max_value=5000))
def test_any_corrupted_cell_is_a_bench_error_or_a_whole_plan(row: int, column: str, value: object, speed: float) -> None:
    table = two_link_trace(seconds=3).table.copy()
    table[column] = table[column].astype(object)
    table.loc[row, column] = value
    try:
        trace = build_trace(table, META)
        plan = plan_replay(trace, speed=speed)
    except BenchError as exc:
        assert exc.where and exc.fix is not None or "row" in exc.message
        return
    # a plan is only ever whole: every row of the trace is in a step (or coalesced into one)
    assert sum(s.rows for s in plan.steps) == len(trace.table)
