"""Real pytest runs of a small measured suite, for the report tests (subprocess: a fresh session
each, exactly as `skybench run` starts one).

The sample suite has a passing measurement, a test that replays part of a synthetic trace (it
writes the replay's ``live.json`` section as the replay fixture does) and fails FO-1 at a trace
time in it, and a plain passing test. ``fo1_seconds`` sets the failing value, so consecutive runs
make a trend.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SAMPLE_SUITE = '''
import os
import pytest
from reports.live import live_update

pytestmark = pytest.mark.nightly

FO1 = float(os.environ["SAMPLE_FO1_S"])
THR1 = float(os.environ["SAMPLE_THR1_PCT"])
TRACE = os.environ["SAMPLE_TRACE"]
TRACE_HASH = os.environ["SAMPLE_TRACE_HASH"]


@pytest.mark.requirement("THR-1")
def test_goodput(measure):
    measure("THR-1", THR1, units="%", quantity="goodput_ratio")


@pytest.mark.requirement("FO-1")
def test_failover_on_route(measure):
    live_update("replay", trace="astana-borovoe", trace_hash=TRACE_HASH, trace_path=TRACE, clock_s=1500.0,
                km=120.0, speed=60.0, window_s=(1200.0, 1800.0))
    measure.on_trace("astana-borovoe", TRACE_HASH)
    measure("FO-1", FO1, units="s", quantity="detection", trace_time_s=1500.0, km=120.0)
    live_update("replay", clear=True)


def test_plain():
    assert 1 + 1 == 2
'''


def write_sample_suite(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "test_sample_suite.py"
    path.write_text(SAMPLE_SUITE)
    return path


def sample_trace(directory: Path) -> tuple[Path, str]:
    """A synthetic trace file (astana-borovoe, seed 1) and its content hash."""
    from bench.traces.generator import generate
    from bench.traces.tracefile import write_trace

    path = directory / "astana-borovoe-1.parquet"
    if not path.exists():
        write_trace(generate("astana-borovoe", 1), path)
    from bench.traces.tracefile import read_trace

    return path, read_trace(path).meta.content_sha256


def run_sample(suite: Path, run_dir: Path, *, fo1_s: float, thr1_pct: float, trace: Path, trace_hash: str) -> subprocess.CompletedProcess[str]:
    """One run of the sample suite into ``run_dir`` (results, Allure results); returns the process."""
    env = {**os.environ, "SAMPLE_FO1_S": str(fo1_s), "SAMPLE_THR1_PCT": str(thr1_pct), "SAMPLE_TRACE": str(trace),
           "SAMPLE_TRACE_HASH": trace_hash, "SKYBENCH_RUN_DIR": str(run_dir), "SKYBENCH_RUN_ID": run_dir.name}
    argv = [sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider", "-q", "--rootdir", str(suite.parent),
            "--results-dir", str(run_dir), "--alluredir", str(run_dir / "allure-results")]
    return subprocess.run(argv, cwd=suite.parent, env=env, capture_output=True, text=True, timeout=300)
