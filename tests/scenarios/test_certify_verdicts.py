"""A certificate never says PASS over a test that did not pass: the record's verdicts come from the
measurements AND from what became of each plan test (failed, error, skipped, not run), and a
measurement taken while the bench's own checks failed makes its requirement incomplete.

The run directories here are written as the skybench plugin writes them (results store,
outcomes.jsonl, session.json); the end-to-end certify run on the lab is in test_certify.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.certification.plan import CertificationPlan, load_plan
from bench.certification.record import requirement_results
from bench.measure.catalogue import default_catalogue
from bench.measure.measurement import RunInfo, evaluate
from bench.measure.model import Quantity
from bench.measure.store import STORE_DIR, MeasurementStore
from bench.outcomes import OUTCOMES_FILE, SESSION_FILE
from bench.certification.model import CertificationRecord, RequirementResult

CATALOGUE = default_catalogue()
PLAN = load_plan()


def _inside(spec: Quantity) -> float | bool:
    """A value well inside the quantity's limit."""
    limit = spec.limit
    if spec.units == "bool":
        return bool(limit.equals)
    if limit.kind == "equals":
        return limit.equals  # type: ignore[return-value]
    if limit.kind == "max":
        return (limit.high or 0.0) * 0.5
    if limit.kind == "min":
        return limit.low * 1.02 + 1 if limit.low is not None and limit.low < 90 else 100.0  # type: ignore[operator]
    return ((limit.low or 0.0) + (limit.high or 0.0)) / 2


def _node(plan: CertificationPlan, req_id: str, repeat: int, count: int) -> str:
    req = next(r for r in plan.requirements if r.id == req_id)
    module = f"scenarios/{req.module}" if req.module else "scenarios/certification/test_certification.py"
    return f"{module}::{req.function}[{repeat}-{count}]" if count > 1 else f"{module}::{req.function}"


class Run:
    """A certification run directory: every plan test passed with a passing measurement, until a
    test below changes one thing."""

    def __init__(self, path: Path, count: int = 1, unmeasured: frozenset[str] = frozenset()) -> None:
        self.path, self.count = path, count
        self.store = MeasurementStore(path / STORE_DIR, durable=False)
        self.outcomes: dict[str, dict] = {}
        nodes: list[str] = []
        for req in PLAN.requirements:
            for i in range(1, count + 1):
                node = _node(PLAN, req.id, i, count)
                if node not in nodes:
                    nodes.append(node)
                    self.outcomes[node] = {"test": node, "when": "call", "outcome": "passed", "message": ""}
                for name, spec in CATALOGUE.requirements[req.id].quantities.items():
                    if req.id not in unmeasured:
                        self.measure(req.id, name, _inside(spec), node)
        self.collected = nodes

    def measure(self, req: str, quantity: str, value: float | bool, node: str, invalid_reason: str | None = None) -> None:
        spec = CATALOGUE.requirements[req].quantities[quantity]
        self.store.append(evaluate(CATALOGUE, req, value, units=spec.units, quantity=quantity, test=node,
                                   run=RunInfo(run_id="r1", suite="certification"), invalid_reason=invalid_reason))

    def node(self, req_id: str, repeat: int = 1) -> str:
        return _node(PLAN, req_id, repeat, self.count)

    def record(self, status: str = "finished") -> dict[str, RequirementResult]:
        (self.path / OUTCOMES_FILE).write_text("".join(json.dumps(o) + "\n" for o in self.outcomes.values()))
        (self.path / SESSION_FILE).write_text(json.dumps({"collected": self.collected, "status": status}))
        results, _ = requirement_results(PLAN, {r: CATALOGUE.requirements[r].title for r in CATALOGUE.requirements},
                                         self.path, repeat=self.count)
        return {r.id: r for r in results}


def _overall(results: dict[str, RequirementResult]) -> str:
    return CertificationRecord.model_construct(requirements=list(results.values())).overall_verdict()


def test_every_plan_test_passed_and_measured_is_a_pass(tmp_path: Path) -> None:
    results = Run(tmp_path, count=2).record()
    assert {r.verdict for r in results.values()} == {"pass"}, {k: (r.verdict, r.note) for k, r in results.items()}
    assert all(len(r.tests) == 2 and {t.outcome for t in r.tests} == {"passed"} for r in results.values())
    assert _overall(results) == "PASS"


def test_a_failed_plan_test_fails_its_requirement_even_with_passing_measurements(tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.outcomes[run.node("POR-2")] |= {"outcome": "failed", "message": "AssertionError: the portal page did not load"}
    results = run.record()
    assert results["POR-2"].verdict == "fail" and "the portal page did not load" in (results["POR-2"].note or "")
    assert _overall(results) == "FAIL"


def test_an_error_in_setup_fails_its_requirement(tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.outcomes[run.node("FO-3")] |= {"when": "setup", "outcome": "failed", "message": "lab did not come up"}
    results = run.record()
    assert results["FO-3"].verdict == "fail" and results["FO-3"].tests[0].outcome == "error"


@pytest.mark.parametrize("what", ["skipped", "not run"])
def test_a_skipped_or_unrun_plan_test_makes_the_certificate_incomplete(tmp_path: Path, what: str) -> None:
    run = Run(tmp_path, count=2)
    node = run.node("PWR-2", repeat=2)
    if what == "skipped":
        run.outcomes[node] |= {"when": "setup", "outcome": "skipped", "message": "the DUT profile sells no bundle"}
    else:
        del run.outcomes[node]  # collected, never reported: the run was stopped before it
    results = run.record(status="finished" if what == "skipped" else "interrupted")
    pwr2 = results["PWR-2"]
    assert pwr2.verdict == "not-measured", (pwr2.verdict, pwr2.note)  # its first repeat's passing value does not carry it
    assert f"1 of 2 test run(s) {what}" in (pwr2.note or "")
    assert [t.outcome for t in pwr2.tests] == ["passed", what]
    assert _overall(results) == "INCOMPLETE"


def test_a_test_the_run_never_collected_is_not_run(tmp_path: Path) -> None:
    run = Run(tmp_path)
    gone = run.node("POR-1")
    run.collected.remove(gone)
    del run.outcomes[gone]
    results = run.record()
    assert results["POR-1"].verdict == "not-measured" and results["POR-1"].tests[0].outcome == "not run"
    assert _overall(results) == "INCOMPLETE"


def test_a_requirement_without_any_measurement_is_not_measured(tmp_path: Path) -> None:
    results = Run(tmp_path, unmeasured=frozenset({"PWR-1"})).record()  # its test passed, measuring nothing
    assert results["PWR-1"].verdict == "not-measured" and not results["PWR-1"].measurements
    assert _overall(results) == "INCOMPLETE"


def test_an_invalid_measurement_makes_its_requirement_invalid_not_passed(tmp_path: Path) -> None:
    """A broken witness counts 0 bypasses: recorded invalid, its test failed for it, and the
    certificate is incomplete, not passed (nor blamed on the equipment)."""
    run = Run(tmp_path)
    node = run.node("POR-4")
    run.measure("POR-4", "bypasses", 0, node, invalid_reason="did not hold: the paying passenger's own UDP reaches the witness")
    run.outcomes[node] |= {"outcome": "failed", "message": "POR-4 bypass attempts that got through: 0, INVALID, not judged"}
    results = run.record()
    assert results["POR-4"].verdict == "invalid", results["POR-4"]
    assert "witness" in (results["POR-4"].note or "")
    assert _overall(results) == "INCOMPLETE"


def test_unsaturated_ops_load_is_invalid_for_each_ops_requirement(tmp_path: Path) -> None:
    run = Run(tmp_path)
    node = run.node("OPS-1")  # OPS-1..3 share one test
    for req in ("OPS-1", "OPS-2", "OPS-3"):
        name, spec = CATALOGUE.quantity(req, None)
        run.measure(req, name, _inside(spec), node, invalid_reason="did not hold: the passengers' uploads filled >= 75 % of the uplink")
    run.outcomes[node] |= {"outcome": "failed", "message": "3 measurements failed"}
    results = run.record()
    assert {results[r].verdict for r in ("OPS-1", "OPS-2", "OPS-3")} == {"invalid"}


def test_a_failed_measurement_outranks_everything(tmp_path: Path) -> None:
    run = Run(tmp_path)
    node = run.node("FO-1")
    run.measure("FO-1", "detection", 60.0, node)
    run.outcomes[node] |= {"outcome": "failed", "message": "FO-1 failover detection time: 60 s > limit 5 s"}
    del run.outcomes[run.node("POR-1")]
    results = run.record(status="interrupted")
    assert results["FO-1"].verdict == "fail" and results["POR-1"].verdict == "not-measured"
    assert _overall(results) == "FAIL"
