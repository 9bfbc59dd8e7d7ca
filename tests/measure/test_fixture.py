"""The pytest side, run as a user runs it: a small test file in a real pytest subprocess."""

from __future__ import annotations

import json

import pytest

from bench.measure.store import load_measurements

pytest_plugins = ["pytester"]

TESTS = '''
import pytest

@pytest.mark.requirement("FO-3")
def test_passing(measure):
    m = measure("FO-3", 3.0, units="s")
    assert m.verdict == "pass"

@pytest.mark.requirement("FO-1")
def test_marginal(measure):
    measure("FO-1", 4800, units="ms", quantity="detection", trace="astana-almaty", trace_time_s=600, km=80.5)

@pytest.mark.requirement("FO-1", "THR-1")
def test_failing(measure):
    measure.on_trace("astana-almaty", "9f86d081")
    measure("FO-1", 7.4, units="s", quantity="detection", trace_time_s=7985, km=431.2)
    measure("THR-1", 0.91, units="ratio", window="night")
    measure("FO-1", 6.0, units="s", quantity="switch", trace_time_s=7990, km=431.3)
    print("the body ran to its end")

def test_wrong_units(measure):
    measure("FO-1", 7.4, units="Mbit/s", quantity="detection")

@pytest.mark.requirement("FO-11")
def test_unknown_requirement():
    pass

@pytest.mark.requirement("POR-4")
def test_declared_only():
    pass

def test_body_fails_after_a_failed_measurement(measure):
    measure("POR-4", 2, units="count")
    assert False, "the body's own failure"

@pytest.mark.requirement("OPS-1")
def test_invalid_when_the_load_was_not_reached(measure):
    m = measure("OPS-1", 0.2, units="s", preconditions={"passengers saturated the uplink": False, "the POS terminal answered": True})
    assert m.verdict == "invalid"
'''


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_suite=TESTS)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", "-rA", *args)


def test_verdicts_outcomes_messages_and_store(pytester: pytest.Pytester) -> None:
    results = pytester.path / "results"
    allure_dir = pytester.path / "allure"
    result = run(pytester, "--results-dir", str(results), "--alluredir", str(allure_dir))
    result.assert_outcomes(passed=2, failed=5, errors=1)
    out = result.stdout.str()

    # the failing test: every measurement recorded, the body ran on, the message lists both failures
    assert "the body ran to its end" in out
    result.stdout.fnmatch_lines([
        "*2 measurements failed: FO-1 failover detection time: 7.4 s > limit 5 s (+2.4 s, +48 %) at trace astana-almaty 02:13:05, km 431.2",
        "*THR-1 downlink goodput vs best possible over the emulated link: 91 % < limit 95 % (-4 percentage points, -4 %) at trace astana-almaty",
    ])
    assert "FO-1 time until traffic flows on the next WAN: 6 s, pass" not in out.split("short test summary")[0].split("test_failing")[-1]
    # marginal passes and is shown in the summary; wrong units fail with the reason
    result.stdout.fnmatch_lines(["*MARGINAL FO-1 failover detection time: 4.8 s, marginal: 0.2 s from limit 5 s*km 80.5*"])
    result.stdout.fnmatch_lines(["*in Mbit/s (rate) but its limit is in s (time): they cannot be compared*"])
    result.stdout.fnmatch_lines(["*@pytest.mark.requirement names 'FO-11', not in the catalogue*"])
    result.stdout.fnmatch_lines(["*the body's own failure*", "*measurements that failed before this error:", "*POR-4 bypass attempts that got through: 2, required 0"])
    result.stdout.fnmatch_lines(["*catalogue 1.1 (scenarios/requirements.yaml): 5 of 14 requirements covered; "
                                 "measurements: 2 pass, 1 marginal, 1 invalid, 3 fail*"])
    # a value taken while the bench's own checks failed is kept, says why, and fails its test
    result.stdout.fnmatch_lines(["*_ test_invalid_when_the_load_was_not_reached _*",
                                 "OPS-1 POS transaction latency p95: 0.2 s, INVALID, not judged: did not hold: passengers saturated the uplink"])
    # a declared requirement without a valid measurement fails its test
    result.stdout.fnmatch_lines(["*_ test_declared_only _*",
                                 "POR-4: declared by this test (@pytest.mark.requirement) but no valid measurement of it was recorded"])

    frame = load_measurements(results)
    by_test = frame.groupby(frame.test.str.split("::").str[-1]).size().to_dict()
    assert by_test == {"test_passing": 1, "test_marginal": 1, "test_failing": 3, "test_body_fails_after_a_failed_measurement": 1,
                       "test_invalid_when_the_load_was_not_reached": 1}
    invalid = frame[frame.verdict == "invalid"].iloc[0]
    assert invalid.invalid_reason == "did not hold: passengers saturated the uplink"
    assert json.loads(invalid.context)["preconditions"] == {"passengers saturated the uplink": False, "the POS terminal answered": True}
    assert frame[frame.verdict != "invalid"].invalid_reason.isna().all()
    failing = frame[frame.test.str.endswith("test_failing")].set_index("quantity")
    assert failing.loc["detection", "verdict"] == "fail" and failing.loc["switch", "verdict"] == "pass"
    assert failing.loc["goodput_ratio", "value"] == pytest.approx(91) and failing.loc["goodput_ratio", "recorded_units"] == "ratio"
    assert set(failing.trace) == {"astana-almaty"} and set(failing.trace_hash) == {"9f86d081"}
    assert json.loads(failing.loc["goodput_ratio", "context"]) == {"window": "night"}
    assert frame.run_id.nunique() == 1 and set(frame.dut) == {"reference-router"}

    coverage = json.loads((results / "requirements-coverage.json").read_text())
    reqs = coverage["requirements"]
    assert reqs["POR-4"]["tests"] == ["test_suite.py::test_declared_only"] and reqs["POR-4"]["measurements"] == {"fail": 1}
    assert reqs["FO-1"]["measurements"] == {"marginal": 1, "fail": 1, "pass": 1}
    assert reqs["PWR-1"]["tests"] == [] and coverage["catalogue_version"] == "1.1"
    assert json.loads((results / "requirements.json").read_text())["version"] == "1.1"

    # Allure: the measurement attached as JSON, the requirement as a label and a link
    allure_results = [json.loads(p.read_text()) for p in allure_dir.glob("*-result.json")]
    failing_result = next(r for r in allure_results if r["name"] == "test_failing")
    assert {"name": "requirement", "value": "FO-1"} in failing_result["labels"]
    assert {"name": "requirement", "value": "THR-1"} in failing_result["labels"]
    assert any(link["type"] == "requirement" and link["url"].endswith("FO-1") for link in failing_result["links"])
    attachments = [a for step in failing_result["steps"] for a in step.get("attachments", [])] + failing_result.get("attachments", [])
    bodies = [json.loads((allure_dir / a["source"]).read_text()) for a in attachments if a["type"] == "application/json"]
    assert {(b["requirement"], b["quantity"], b["verdict"]) for b in bodies} == {("FO-1", "detection", "fail"), ("THR-1", "goodput_ratio", "fail"), ("FO-1", "switch", "pass")}
    assert "2 measurements failed" in failing_result["statusDetails"]["message"]


def test_without_a_results_dir_measurements_stay_in_memory(pytester: pytest.Pytester) -> None:
    result = run(pytester, "-k", "passing or marginal")
    result.assert_outcomes(passed=2, deselected=6)
    assert not list(pytester.path.rglob("*.parquet"))
    result.stdout.fnmatch_lines(["*measurements: 1 pass, 1 marginal, 0 invalid, 0 fail*"])


def test_an_operators_catalogue_changes_the_verdict(pytester: pytest.Pytester) -> None:
    ops = pytester.path / "ops.yaml"
    ops.write_text("version: ops-3\nrequirements:\n  FO-3:\n    quantities:\n      restore:\n        limit: {max: 2}\n")
    result = run(pytester, "-k", "passing", "--requirements", str(ops))
    result.assert_outcomes(failed=1, deselected=7)
    result.stdout.fnmatch_lines(["*FO-3 service restored after link return: 3 s > limit 2 s (+1 s, +50 %)*"])
    result.stdout.fnmatch_lines([f"*catalogue 1.1+ops-3 (scenarios/requirements.yaml, {ops})*"])


def test_a_bad_catalogue_stops_the_run_with_its_line(pytester: pytest.Pytester) -> None:
    ops = pytester.path / "ops.yaml"
    ops.write_text("version: ops-3\nrequirements:\n  FO-3:\n    quantities:\n      restore:\n        limit: {maximum: 2}\n")
    result = run(pytester, "--requirements", str(ops))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {ops}:6: requirements.FO-3.quantities.restore.limit.maximum: unknown field 'maximum'*"])
    assert "Traceback" not in result.stderr.str()
