"""`skybench run` without a terminal (CI, a pipe, a log file): a plain line per test as it finishes,
a progress line when nothing was printed for a while, and no line broken at 80 columns."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from reports.live import live_update, set_live_dir
from reports.progress import LiveStatus
from tests.conftest import REPO
from tests.hostsnap import HostSnapshot


def _append(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def test_a_line_per_finished_test_and_a_progress_line_in_silence(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, width=240, soft_wrap=True)  # a file: not a terminal
    assert not console.is_terminal
    now = time.time()
    set_live_dir(tmp_path)
    try:
        live_update("progress", total=3, done=1, failed=0, current="scenarios/nightly/test_failover.py::test_dead_zone")
    finally:
        set_live_dir(None)
    status = LiveStatus(tmp_path, console)
    status._plain.every_s, status._plain.poll_s = 0.4, 0.05  # type: ignore[union-attr]
    with status:
        status.print("scenarios/nightly/test_sky_links.py ..")
        _append(tmp_path / "steps.jsonl", {"step": "measure FO-1", "start": now - 2, "result": "pass"})
        _append(tmp_path / "steps.jsonl", {"step": "measure FO-2", "start": now - 1, "result": "marginal"})
        _append(tmp_path / "outcomes.jsonl", {"test": "scenarios/nightly/test_failover.py::test_outage", "when": "call",
                                              "outcome": "passed", "duration_s": 5.0, "message": "", "time": now})
        time.sleep(1.0)  # silence: the progress line
        _append(tmp_path / "outcomes.jsonl", {"test": "scenarios/nightly/test_portal.py::test_cap", "when": "call",
                                              "outcome": "failed", "duration_s": 3.0, "message": "POR-2 cap error: 14 % > 10 %\nmore",
                                              "time": now + 60})
    lines = out.getvalue().splitlines()
    assert lines[0] == "scenarios/nightly/test_sky_links.py .."
    assert any(line.startswith("PASSED") and "nightly/test_failover.py::test_outage  FO-1 pass, FO-2 marginal" in line for line in lines), lines
    assert any(line.startswith("... ") and "1/3 tests" in line and "running test_dead_zone" in line for line in lines), lines
    assert lines[-1].startswith("FAILED") and lines[-1].endswith("nightly/test_portal.py::test_cap  -- POR-2 cap error: 14 % > 10 %")


@pytest.mark.lab
def test_skybench_run_to_a_file_tells_each_test_as_it_finishes(tmp_path: Path, untouched_host: HostSnapshot) -> None:
    log = tmp_path / "run.log"
    env = {**os.environ, "COLUMNS": "60", "TERM": "dumb"}
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", "nightly", "--results", str(tmp_path / "results"),
                                 "--", "-k", "lab_paths"], stdout=f, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        seen_while_running = False
        while proc.poll() is None:
            if "PASSED" in log.read_text():
                seen_while_running = True
            time.sleep(0.5)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert seen_while_running, "no test's line appeared before the run ended"
    finished = [line for line in text.splitlines() if line.startswith("PASSED")]
    assert len(finished) == 3 and all("nightly/test_lab_paths.py::" in line for line in finished), text
    # the tables are drawn wide: a row is one line, whatever COLUMNS says
    assert not [line for line in text.splitlines() if line.startswith("│") and len(line) <= 60 and line.count("│") < 3], text
