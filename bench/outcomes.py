"""What became of each test of a run, read from its results directory.

The skybench pytest plugin writes `outcomes.jsonl` (one line per test phase that says something,
the moment it is known) and `session.json` (the tests collected; how the session ended). From
them: each collected test's outcome, including the tests that never ran because the run died or
was stopped. A run directory without `session.json` (pytest died before collecting) has no
collected tests to speak of; its callers treat every expected test as not run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["OUTCOMES_FILE", "SESSION_FILE", "TestOutcome", "outcomes_of"]

OUTCOMES_FILE = "outcomes.jsonl"
SESSION_FILE = "session.json"

Outcome = Literal["passed", "failed", "error", "skipped", "not run"]


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest test class

    test: str  # pytest node id
    outcome: Outcome  # error: failed in setup or teardown
    message: str = ""

    @property
    def function(self) -> str:
        """The test function's name, without module or parameters."""
        return self.test.split("::")[-1].split("[")[0]


def outcomes_of(run_dir: Path) -> dict[str, TestOutcome]:
    """Node id -> its outcome: every collected test (not run if nothing was heard of it) and any
    test heard of that was not collected (a run without session.json)."""
    heard: dict[str, list[dict]] = {}
    path = run_dir / OUTCOMES_FILE
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                heard.setdefault(record["test"], []).append(record)
    session = run_dir / SESSION_FILE
    nodes = list(json.loads(session.read_text()).get("collected", [])) if session.exists() else []
    nodes += [n for n in heard if n not in nodes]
    return {node: _outcome_of(node, heard.get(node, [])) for node in nodes}


def _outcome_of(node: str, records: list[dict]) -> TestOutcome:
    if not records:
        return TestOutcome(node, "not run")
    failed = [r for r in records if r["outcome"] == "failed"]
    if failed:
        first = failed[0]
        return TestOutcome(node, "failed" if first["when"] == "call" else "error", first.get("message", ""))
    skipped = [r for r in records if r["outcome"] == "skipped"]
    if skipped:
        return TestOutcome(node, "skipped", skipped[0].get("message", ""))
    if any(r["when"] == "call" and r["outcome"] == "passed" for r in records):
        return TestOutcome(node, "passed")
    return TestOutcome(node, "not run")  # set up but its body never reported (stopped or killed)
