"""Stopping means stopping: SIGTERM (a CI system aborting the job) or Ctrl-C ends the whole run.

The running test's lab is torn down, no further test starts, the command exits saying it was
interrupted (pytest 2, skybench 128 + the signal), what was measured before stays on disk, and
nothing is left running or configured on the host.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO
from tests.hostsnap import HostSnapshot

pytestmark = pytest.mark.lab

# Quick nightly modules first, then ones that each take minutes: a stop that did not stop the run
# would show as the long tests running (and the wait below timing out).
SELECTION = "lab_paths or sky_links or test_throughput or test_failover"


def _start(argv: list[str], results: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO,
                            start_new_session=True)


def _wait_for_first_outcome(run_root: Path, proc: subprocess.Popen[str], timeout: float = 600) -> Path:
    """The run directory once one test has finished (so a lab is up and more tests are to come)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be stopped"
        for outcomes in run_root.glob("**/outcomes.jsonl"):
            if outcomes.read_text().strip():
                return outcomes.parent
        time.sleep(0.5)
    raise AssertionError("no test finished within the time allowed")


def _stop_and_wait(proc: subprocess.Popen[str], sig: signal.Signals, timeout: float = 60) -> tuple[int, str, float]:
    descendants = psutil.Process(proc.pid).children(recursive=True)
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"still running {timeout:.0f} s after {sig.name}")
    took = time.monotonic() - sent
    alive = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"left running after {sig.name}: {[p.cmdline() for p in alive]}"
    return proc.returncode, output, took


def _session(run_dir: Path) -> dict:
    return json.loads((run_dir / "session.json").read_text())


def test_sigterm_stops_skybench_run_not_just_one_test(tmp_path: Path, untouched_host: HostSnapshot) -> None:
    proc = _start([sys.executable, "-m", "bench.cli", "run", "nightly", "--results", str(tmp_path), "--", "-k", SELECTION], tmp_path)
    run_dir = _wait_for_first_outcome(tmp_path, proc)
    status, output, took = _stop_and_wait(proc, signal.SIGTERM)
    assert status == 128 + signal.SIGTERM, output
    assert "interrupted by SIGTERM" in output, output
    session = _session(run_dir)
    assert session["status"] == "interrupted" and session["stopped_by"] == "SIGTERM", session
    ran = {json.loads(line)["test"] for line in (run_dir / "outcomes.jsonl").read_text().splitlines()}
    assert 1 <= len(ran) < len(session["collected"]), (ran, session["collected"])
    assert f"{len(ran)} of {len(session['collected'])} tests ran" in output
    steps = [json.loads(line)["step"] for line in (run_dir / "steps.jsonl").read_text().splitlines()]
    assert steps.count("lab up") == steps.count("lab down") >= 1, "the lab was not torn down"
    print(f"skybench run stopped {took:.1f} s after SIGTERM; {len(ran)} of {len(session['collected'])} tests ran")


def test_ctrl_c_stops_a_plain_pytest_run(tmp_path: Path, untouched_host: HostSnapshot) -> None:
    """The same without the skybench command (which passes its stop on to pytest as SIGTERM): a
    tester at a terminal running pytest on the suites directly."""
    sig = signal.SIGINT
    run_dir = tmp_path / "run"
    proc = _start([sys.executable, "-m", "pytest", "scenarios/nightly", "-k", SELECTION, "-p", "no:cacheprovider", "-q",
                   "--results-dir", str(run_dir)], tmp_path)
    _wait_for_first_outcome(tmp_path, proc)
    status, output, took = _stop_and_wait(proc, sig)
    assert status == pytest.ExitCode.INTERRUPTED, output
    session = _session(run_dir)
    assert session["status"] == "interrupted" and session["stopped_by"] == sig.name, session
    ran = {json.loads(line)["test"] for line in (run_dir / "outcomes.jsonl").read_text().splitlines()}
    assert len(ran) < len(session["collected"])
    print(f"pytest stopped {took:.1f} s after {sig.name}; {len(ran)} of {len(session['collected'])} tests ran")
