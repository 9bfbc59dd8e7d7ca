"""The replay fixture inside a pytest run: measurements carry the trace position, failures are
reported with the trace time and km, options are read. The inner runs use dry-run replays (the
clock without a lab); tests/traces/test_replay_lab.py drives the lab's links with the fixture."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.traces import build_trace, write_trace

pytest_plugins = ["pytester"]

TESTS = '''
import pytest

TRACE = {trace!r}

def test_measure_gets_the_trace_position(replay, measure):
    replay.play(TRACE, speed=20, dry_run=True, name="steps")
    replay.wait_for_km(14, timeout=10)
    m = measure("FO-1", 1.0, units="s", quantity="detection")
    assert m.trace == "steps" and m.trace_time_s >= 4.0 and m.km >= 14.0, m
    replay.stop()

def test_failure_says_where_in_the_trace(replay):
    replay.play(TRACE, speed=20, dry_run=True, name="steps")
    replay.wait_for_km(13, timeout=10)
    assert False, "the DUT did something wrong"

def test_trace_file_option_started_the_replay(replay):
    assert replay.running and replay.plan.t0 == 2.0 and replay.plan.speed == 5.0
'''


def steps_file(tmp_path: Path) -> Path:
    rows = [{"t_s": float(t), "link": "oneweb", "direction": d, "delay_ms": 5.0 if t < 3 else 25.0, "loss": 0.0,
             "rate_bps": 100_000_000, "outage": False, "km": 10.0 + t} for t in range(7) for d in ("down", "up")]
    trace = build_trace(pd.DataFrame(rows), {"source": "synthetic", "start_time": "2025-01-01T00:00:00+00:00",
                                            "licence": "CC0-1.0"})
    return write_trace(trace, tmp_path / "steps.parquet")


def test_fixture_in_a_pytest_run(pytester: pytest.Pytester, tmp_path: Path) -> None:
    path = steps_file(tmp_path)
    pytester.makepyfile(test_inner=TESTS.format(trace=str(path)))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", "-k", "not option",
                                           "--results-dir", str(pytester.path / "results"))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*trace position*", "*failed at trace steps at 00:00:03.* km 13.*"])
    assert list((pytester.path / "results" / "replay").glob("*.parquet"))  # the steps were logged


def test_trace_file_option(pytester: pytest.Pytester, tmp_path: Path) -> None:
    path = steps_file(tmp_path)
    pytester.makepyfile(test_inner=TESTS.format(trace=str(path)))
    # the option plays on the lab; here its bad-input path is checked, which fails before any lab
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "started_the_replay",
                                           "--trace-file", str(path), "--from", "00:00:09")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--from 00:00:09.000 is at or after the trace's end*"])
    assert "During handling" not in result.stdout.str() and "Traceback" not in result.stdout.str()
