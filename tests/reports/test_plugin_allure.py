"""The reporting plugin on real pytest runs: Allure environment, categories, labels, links, the
failed test's evidence, and live.json progress."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from reports.allure_files import BENCH_ERROR_REGEX, CATEGORIES, REQUIREMENT_FAILURE_REGEX
from reports.live import LiveState, read_live
from reports.progress import status_renderable
from tests.reports.sample_runs import run_sample, sample_trace, write_sample_suite

BENCH_FAILURE = '''
import pytest
from bench.errors import HostError

@pytest.fixture
def broken_lab():
    raise HostError("network namespace 'sb0000-router' does not exist", fix="is the lab up?")

def test_needs_lab(broken_lab):
    pass
'''


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("plugin")
    suite = write_sample_suite(base / "suite")
    (suite.parent / "test_bench_failure.py").write_text(BENCH_FAILURE)
    trace, trace_hash = sample_trace(base)
    run_dir = base / "results" / "20260105-020000-nightly"
    proc = run_sample(suite.parent, run_dir, fo1_s=7.4, thr1_pct=97.0, trace=trace, trace_hash=trace_hash)
    assert proc.returncode == 1, proc.stdout[-3000:]
    (run_dir / "trace_hash").write_text(trace_hash)
    return run_dir


def results(run_dir: Path) -> dict[str, dict]:
    out = {}
    for path in (run_dir / "allure-results").glob("*-result.json"):
        data = json.loads(path.read_text())
        out[data["name"]] = data
    return out


def test_environment_properties(run: Path) -> None:
    text = (run / "allure-results" / "environment.properties").read_text()
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props["run.id"] == run.name
    assert props["lab.name"] == "embedded" and props["dut.name"] == "reference-router"
    assert {k for k in props if k.startswith("wan.")} == {"wan.oneweb.link", "wan.starlink.link", "wan.lte.link"}
    assert props["trace.astana-borovoe"] == (run / "trace_hash").read_text()
    assert props["requirements.catalogue"] and props["bench.version"]


def test_categories_separate_product_failures_from_bench_problems(run: Path) -> None:
    by_name = results(run)
    product = by_name["test_failover_on_route"]
    bench = by_name["test_needs_lab"]
    assert product["status"] == "failed" and bench["status"] == "broken"
    assert re.fullmatch(REQUIREMENT_FAILURE_REGEX, product["statusDetails"]["message"])
    assert not re.fullmatch(REQUIREMENT_FAILURE_REGEX, bench["statusDetails"]["message"])
    assert re.fullmatch(BENCH_ERROR_REGEX, bench["statusDetails"]["trace"])
    assert not re.fullmatch(BENCH_ERROR_REGEX, product["statusDetails"].get("trace", ""))
    written = json.loads((run / "allure-results" / "categories.json").read_text())
    assert written == CATEGORIES


def test_labels_links_and_evidence_of_the_failed_test(run: Path) -> None:
    product = results(run)["test_failover_on_route"]
    labels = {(label["name"], label["value"]) for label in product["labels"]}
    assert {("parentSuite", "nightly"), ("dut", "reference-router"), ("lab", "embedded"), ("requirement", "FO-1")} <= labels
    link = next(link for link in product["links"] if link["type"] == "requirement")
    assert link["url"].endswith("docs/requirements.md#FO-1")
    attachments = {a["name"]: a for a in product["attachments"]}
    plot = run / "allure-results" / attachments["links around the measurement (failure marked)"]["source"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 20_000
    steps = (run / "allure-results" / attachments["applied steps (this test's window)"]["source"]).read_text()
    assert "measure FO-1" in steps and "measure THR-1" not in steps  # this test's window only
    passed = results(run)["test_goodput"]
    assert not [a for a in passed.get("attachments", []) if a["type"] == "image/png"]


def test_a_passing_measured_replay_test_shows_its_window(tmp_path: Path) -> None:
    suite = write_sample_suite(tmp_path / "suite")
    trace, trace_hash = sample_trace(tmp_path)
    run_dir = tmp_path / "results" / "20260106-020000-nightly"
    proc = run_sample(suite, run_dir, fo1_s=3.1, thr1_pct=97.0, trace=trace, trace_hash=trace_hash)
    assert proc.returncode == 0, proc.stdout[-3000:]
    passed = results(run_dir)["test_failover_on_route"]
    assert passed["status"] == "passed"
    plots = [a for a in passed.get("attachments", []) if a["name"].startswith("links around the measurement")]
    assert len(plots) == 1 and (run_dir / "allure-results" / plots[0]["source"]).stat().st_size > 20_000
    assert not [a for a in passed["attachments"] if "packet capture" in a["name"]]  # evidence of failures only


def test_live_progress_at_the_end(run: Path) -> None:
    state = read_live(run)
    assert state is not None and state.progress is not None
    assert (state.progress.total, state.progress.done, state.progress.failed) == (4, 4, 2)
    assert state.replay is None  # the replay cleared its section


def test_status_line_shows_progress_trace_clock_and_passengers() -> None:
    state = LiveState.model_validate({
        "updated": 0, "progress": {"total": 5, "done": 2, "failed": 1, "current": "scenarios/nightly/test_failover.py::test_dead_zone"},
        "replay": {"trace": "astana-almaty", "clock_s": 7985.0, "km": 431.2, "speed": 60},
        "passengers": {"users": 480, "rps": 212.5, "failures": 3, "p95_ms": {"browse": 640.0}},
    })
    console = Console(record=True, width=160)
    console.print(status_renderable(state, started=100.0, now=165.0))
    text = console.export_text()
    assert "2/5 tests, 1 failed  00:01:05" in text and "test_dead_zone" in text
    assert "trace astana-almaty 02:13:05, km 431.2, 60x" in text
    assert "480 passengers, 212 req/s, 3 failures, browse p95 640 ms" in text


def test_measurements_summary_lists_failures_first(run: Path) -> None:
    from reports.summary import measurements_table

    table = measurements_table(run)
    assert table is not None
    console = Console(record=True, width=220)
    console.print(table)
    rows = [line for line in console.export_text().splitlines() if "FO-1" in line or "THR-1" in line]
    assert "fail" in rows[0] and "FO-1" in rows[0] and "trace astana-borovoe 00:25:00, km 120.0" in rows[0]
    assert "THR-1" in rows[1] and "│ -" in rows[1]  # not located in a trace: no NaN shown
