"""The Allure report of real nightly runs on the embedded lab, opened in headless Chromium: the
suites, a failed test with its packet capture, a test's plot, and the trend over the runs.

Opt-in: SKYBENCH_NIGHTLY_RESULTS=DIR names a results root holding at least three
`skybench run nightly` runs, the latest with a failed test (a nightly takes about 13 minutes,
too long for the test command; docs/reports.md gives the commands that made the runs).
Screenshots go to results/test-artifacts/nightly-report/.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from reports.html import build_html, is_run_dir
from tests.reports import chromium
from tests.reports.sample_runs import REPO

RESULTS = os.environ.get("SKYBENCH_NIGHTLY_RESULTS")
ARTIFACTS = REPO / "results" / "test-artifacts" / "nightly-report"
LOAD_PLOT = "passengers per class (load run 0)"

pytestmark = pytest.mark.skipif(not RESULTS, reason="set SKYBENCH_NIGHTLY_RESULTS to a results root with three nightly runs")


def _allure_results(run_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (run_dir / "allure-results").glob("*-result.json")]


def test_nightly_report_opens_in_chromium(tmp_path: Path) -> None:
    root = Path(str(RESULTS))
    runs = sorted(p for p in root.iterdir() if p.is_dir() and is_run_dir(p) and p.name.endswith("-nightly"))
    assert len(runs) >= 3, f"{root} holds {len(runs)} nightly runs, the trend needs three"
    latest = runs[-1]
    written = _allure_results(latest)
    failed = [r for r in written if r["status"] == "failed"
              and any(a["name"].startswith("packet capture: DUT WAN and LAN") for a in r.get("attachments", []))]
    assert failed, f"no failed test with a packet capture in {latest}"
    plotted = [r for r in written if any(a["name"] == LOAD_PLOT for a in r.get("attachments", []))]
    assert plotted, f"no test with {LOAD_PLOT!r} in {latest}"

    report = build_html(latest)
    by_id = json.loads((report / "test-results.json").read_text())["byId"]
    failed_id = next(tid for tid, r in by_id.items() if r["name"] == failed[0]["name"] and r["status"] == "failed")
    plot_id = next(tid for tid, r in by_id.items() if r["name"] == plotted[0]["name"])
    seen = chromium.browse_report(report, {"failedId": failed_id, "failedName": failed[0]["name"], "plotId": plot_id,
                                           "plotName": LOAD_PLOT}, tmp_path, ARTIFACTS)
    for text in ("nightly", "test_failover", "test_route_replays", "test_power", failed[0]["name"], "Failed\n3"):
        assert text in seen["suites"], f"{text!r} not on the report's front page"
    assert "packet capture: DUT WAN and LAN" in seen["failedTest"] and "Product failures" in seen["failedTest"]
    assert seen["plot"]["width"] >= 600 and seen["plot"]["height"] >= 400, seen["plot"]
    dashboard = seen["dashboard"]
    chart = dashboard[dashboard.index("Status dynamics"):dashboard.index("Test results by severities")]
    labels = [line for line in chart.splitlines()[1:] if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}|Latest", line)]
    assert len(labels) >= 3 and labels[-1] == "Latest", chart
    print(f"\n{len(runs)} nightly runs in {root}; latest {latest.name}: failed {failed[0]['name']} (pcap), "
          f"plot on {plotted[0]['name']}; screenshots in {ARTIFACTS}")
