"""`skybench run nightly` end to end: the complete suite runs on the embedded lab, passes, and leaves its results."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench.measure.catalogue import default_catalogue
from bench.measure.store import load_measurements
from bench.outcomes import outcomes_of
from tests.conftest import skybench
from tests.hostsnap import HostSnapshot

pytestmark = pytest.mark.lab


def test_the_complete_nightly_on_the_embedded_lab(tmp_path: Path, untouched_host: HostSnapshot) -> None:
    """The product's main job, as QA runs it: every nightly test on the embedded lab with the
    reference router as shipped. Any failed requirement or invalid measurement fails this test."""
    started = time.monotonic()
    result = skybench("run", "nightly", "--results", str(tmp_path), timeout=2400)
    took = time.monotonic() - started
    (run_dir,) = tmp_path.iterdir()
    frame = load_measurements(run_dir)
    bad = frame[frame.verdict.isin(["fail", "invalid"])]
    assert bad.empty, "\n".join(bad.message)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
    outcomes = outcomes_of(run_dir)
    session = json.loads((run_dir / "session.json").read_text())
    assert session["status"] == "finished" and len(outcomes) == len(session["collected"]) >= 25
    not_passed = {node: o.outcome for node, o in outcomes.items() if o.outcome != "passed"}
    # The one allowed non-pass: the departed-passenger clone, a known exposure reported as xfail.
    assert set(not_passed) <= {n for n in outcomes if n.endswith("test_clone_of_a_departed_passenger")}, not_passed
    nightly = {r for r, req in default_catalogue().requirements.items() if "nightly" in req.suites}
    valid = set(frame[frame.verdict.isin(["pass", "marginal"])].requirement)
    assert nightly <= valid, f"nightly requirements without a valid measurement: {sorted(nightly - valid)}"
    steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text().splitlines()]
    assert any(s["step"] == "lab up" for s in steps) and any(s["step"] == "lab down" for s in steps)
    assert (run_dir / "junit.xml").exists() and any((run_dir / "allure-results").iterdir())
    marginal = frame[frame.verdict == "marginal"]
    print(f"complete nightly: {len(outcomes)} tests, {len(frame)} measurements ({len(marginal)} marginal) in {took / 60:.1f} min")
    for message in marginal.message:
        print(f"  marginal: {message}")


def test_unknown_suite_is_one_clear_error() -> None:
    result = skybench("run", "nightlyy")
    assert result.returncode == 2
    assert "unknown suite 'nightlyy'" in result.stderr and "nightly" in result.stderr
    assert "Traceback" not in result.stderr
