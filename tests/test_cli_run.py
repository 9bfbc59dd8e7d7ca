"""`skybench run nightly` end to end: the suite runs on the embedded lab and leaves its results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import skybench
from tests.hostsnap import HostSnapshot

pytestmark = pytest.mark.lab


def test_run_nightly_on_the_embedded_lab(tmp_path: Path, untouched_host: HostSnapshot) -> None:
    # The command end to end on the nightly's quick modules: the whole nightly (about 15 minutes)
    # runs from its own command, not inside the project's test run.
    result = skybench("run", "nightly", "--results", str(tmp_path), "--", "-k", "lab_paths or sky_links", timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not built yet" in result.stdout or "runs" in result.stdout  # the honest coverage table
    (run_dir,) = tmp_path.iterdir()
    outcomes = [json.loads(line) for line in (run_dir / "outcomes.jsonl").read_text().splitlines()]
    assert outcomes and all(o["outcome"] == "passed" for o in outcomes)
    steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text().splitlines()]
    assert any(s["step"] == "lab up" for s in steps) and any(s["step"] == "lab down" for s in steps)
    assert (run_dir / "junit.xml").exists() and any((run_dir / "allure-results").iterdir())


def test_unknown_suite_is_one_clear_error() -> None:
    result = skybench("run", "nightlyy")
    assert result.returncode == 2
    assert "unknown suite 'nightlyy'" in result.stderr and "nightly" in result.stderr
    assert "Traceback" not in result.stderr
