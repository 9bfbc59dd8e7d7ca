"""`skybench report html` end to end: three real pytest runs of a small measured suite (the third
fails FO-1 during a trace replay), the report built by Allure Report 3 with history, opened in
headless Chromium: the suites, the failed test with its plot, and the trend over the three runs.

Screenshots: the test's tmp dir and results/test-artifacts/html-report/ in the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from reports.html import HISTORY_FILE, HISTORY_RUNS, build_html
from tests.reports import chromium
from tests.reports.sample_runs import REPO, run_sample, sample_trace, write_sample_suite

ARTIFACTS = REPO / "results" / "test-artifacts" / "html-report"
PLOT_NAME = "links around the measurement"

# In CI a missing browser or npm is a failure (the project's own scripts install them), not a skip.
pytestmark = pytest.mark.skipif(os.environ.get("CI") != "true" and (not chromium.available() or shutil.which("npm") is None),
                                reason="needs Debian's chromium and npm (scripts/install-system-deps.sh)")


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("html")
    suite = write_sample_suite(base / "suite")
    trace, trace_hash = sample_trace(base)
    runs = []
    for night, (fo1_s, thr1) in enumerate([(3.1, 97.5), (3.3, 97.0), (7.4, 96.0)], 1):
        run_dir = base / "results" / f"2026010{night}-020000-nightly"
        proc = run_sample(suite, run_dir, fo1_s=fo1_s, thr1_pct=thr1, trace=trace, trace_hash=trace_hash)
        assert proc.returncode == (1 if fo1_s > 5 else 0), proc.stdout[-2000:] + proc.stderr[-2000:]
        runs.append(run_dir)
    return runs


def test_history_covers_every_run_once(three_runs: list[Path]) -> None:
    root = three_runs[0].parent
    build_html(three_runs[0])
    build_html(three_runs[2])  # the second run was never built: caught up, oldest first
    build_html(three_runs[2])  # rebuilt: not added twice
    assert (root / HISTORY_RUNS).read_text().split() == [r.name for r in three_runs]
    assert len((root / HISTORY_FILE).read_text().splitlines()) == 3


def test_report_opens_in_chromium(three_runs: list[Path], tmp_path: Path) -> None:
    report = build_html(three_runs[2])
    results = json.loads((report / "test-results.json").read_text())["byId"]
    failed = [tid for tid, r in results.items() if r["status"] == "failed"]
    assert [results[t]["name"] for t in failed] == ["test_failover_on_route"]
    seen = chromium.browse_report(report, {"failedId": failed[0], "failedName": "test_failover_on_route", "plotName": PLOT_NAME},
                                  tmp_path, ARTIFACTS, timeout_s=240)
    shots = tmp_path / "screenshots"

    # The suites: grouped under the suite (parentSuite label), every test listed.
    for text in ("nightly", "test_goodput", "test_failover_on_route", "test_plain", "Failed\n1", "Passed\n2"):
        assert text in seen["suites"], f"{text!r} not on the report's front page"
    # The failed test: the requirement's message, its category, its link, and the plot shown.
    page = seen["failedTest"]
    assert "FO-1 failover detection time: 7.4 s > limit 5 s" in page
    assert "Product failures: a requirement failed" in page
    assert "FO-1: Active satellite WAN lost" in page
    assert seen["plot"]["width"] >= 600 and seen["plot"]["height"] >= 400, seen["plot"]
    # The trend: the status dynamics chart has one bar per run (two earlier runs + "Latest").
    dashboard = seen["dashboard"]
    chart = dashboard[dashboard.index("Status dynamics"):dashboard.index("Test results by severities")]
    labels = [line for line in chart.splitlines()[1:] if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}|Latest", line)]
    assert len(labels) == 3 and labels[-1] == "Latest", chart
    for name in ("1-suites.png", "2-failed-test-with-plot.png", "3-trend.png"):
        assert (shots / name).stat().st_size > 10_000


def test_the_printed_command_works_with_a_relative_path(three_runs: list[Path]) -> None:
    """`skybench run` prints `skybench report html results/<run>`; run as printed, from that
    directory, the relative path reaches Allure (which runs elsewhere) resolved."""
    import subprocess
    import sys

    base = three_runs[0].parent.parent
    relative = three_runs[1].relative_to(base)
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "report", "html", str(relative), "--no-history"], cwd=base,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (three_runs[1] / "allure-report" / "index.html").exists()
    assert f"--prefix {REPO / 'reports' / 'allure'}" in " ".join(proc.stdout.split())
