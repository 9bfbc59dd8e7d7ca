"""Field-bug repro: a recorded trace, a point in it (a time or a km), a check; replay the window
around the point N times against the DUT, one pytest run (and lab) each, and count the runs in
which the symptom appeared, with each run's evidence directory.

A check is a requirement id (scenarios/repro CHECKS: a repro test that replays the window itself
once its passenger is ready, or another suite's test run with the window replaying from the
session's start) or any pytest node id (run the second way).
The symptom appeared in a run when a measurement of the requirement failed, or the test failed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.measure.store import load_measurements
from bench.measure.verdict import SEVERITY
from bench.outcomes import outcomes_of
from bench.pytestrun import run_pytest
from bench.traces.replay import fmt_trace_time, parse_trace_time
from bench.traces.schema import Trace
from scenarios import SUITES
from scenarios.repro import CHECKS, replays_itself



def load_field_trace(path: Path, kind: str | None, out_dir: Path) -> tuple[Trace, Path]:
    """A skybench trace as is; any other recording imported with `kind` (written to out_dir)."""
    from bench.traces import read_trace, write_trace
    from bench.traces.importers import IMPORTERS, import_trace

    if kind is None:
        if path.suffix.lower() not in (".parquet", ".pq", ".csv"):
            raise BenchError(f"{path.name} is not a skybench trace (.parquet or .csv)", where=str(path),
                             fix=f"name its format with --kind ({', '.join(sorted(IMPORTERS))})")
        try:
            return read_trace(path), path
        except BenchError as exc:
            raise BenchError(f"not a skybench trace: {exc.what}", where=str(path),
                             fix=f"if it is a recording, name its format with --kind ({', '.join(sorted(IMPORTERS))})") from None
    trace = import_trace(kind, path)
    out_dir.mkdir(parents=True, exist_ok=True)
    imported = write_trace(trace, out_dir / "trace.parquet")
    return trace, imported


def window_around(trace: Trace, *, at: str | None, km: float | None, window_s: float) -> tuple[float, float, float]:
    """(from, to, point) in trace seconds: `window_s` centred on the time or the first passage at km."""
    if (at is None) == (km is None):
        raise BenchError("give the point as --at TIME or --km KM (one of them)", where="skybench repro",
                         fix="e.g. --at 00:02:45 or --km 263.2")
    duration = trace.duration_s
    if at is not None:
        point = parse_trace_time(at, option="--at")
        assert point is not None
    else:
        rows = trace.table.dropna(subset=["km"]) if "km" in trace.table else trace.table.iloc[0:0]
        if rows.empty:
            raise BenchError("the trace has no km column", where="--km", fix="give the point as --at TIME")
        times, kms = rows["t_s"].to_numpy(dtype=float), rows["km"].to_numpy(dtype=float)
        past = np.flatnonzero(kms >= km)
        if not len(past):
            raise BenchError(f"the train never reaches km {km:g} (km {kms.min():g}-{kms.max():g})", where="--km",
                             fix="choose a km inside the trace (`skybench trace info` shows the span)")
        point = float(times[past[0]])
    if not 0 <= point <= duration:
        raise BenchError(f"{fmt_trace_time(point)} is outside the trace (0-{fmt_trace_time(duration)})", where="--at",
                         fix="choose a time inside the trace")
    start = max(0.0, point - window_s / 2)
    end = min(duration, start + window_s)
    return start, end, point


def check_argv(check: str) -> tuple[list[str], str | None, bool]:
    """pytest arguments selecting the check, the requirement it is about (None: a node id), and
    whether the test replays the window itself (else the window replays from the session's start)."""
    if check in CHECKS:
        return [str(SUITES["repro"].path.parent / CHECKS[check])], check, replays_itself(CHECKS[check])
    if "::" in check or check.endswith(".py"):
        node = check.split("::", 1)
        if not Path(node[0]).exists():
            raise BenchError(f"no test file {node[0]}", where="--check", fix="give a test node id such as scenarios/nightly/test_failover.py::test_x")
        return [check], None, False
    raise BenchError(f"unknown check {check!r}", where="--check",
                     fix=f"give a requirement with a repro check ({', '.join(CHECKS)}) or a pytest node id (path.py::test_name)")


@dataclass
class RunResult:
    run: int
    run_dir: str
    outcome: str  # passed / failed / skipped / error (of the check's tests)
    verdict: str  # pass / marginal / invalid / fail / not-measured / error
    value: str  # the worst measurement, as text
    trace_time_s: float | None
    km: float | None
    message: str
    symptom: bool  # the run showed the problem: a failed verdict or test (not an invalid measurement)
    stopped_by: int | None = None  # the signal that stopped this run (and the runs after it)


@dataclass
class ReproReport:
    trace: str
    check: str
    requirement: str | None
    window: tuple[float, float]
    point: float
    runs: list[RunResult] = field(default_factory=list)

    @property
    def stopped_by(self) -> int | None:
        return next((r.stopped_by for r in self.runs if r.stopped_by is not None), None)

    @property
    def seen(self) -> int:
        return sum(r.symptom for r in self.runs)

    def to_json(self) -> dict:
        return {**asdict(self), "seen": self.seen, "stopped_by": self.stopped_by}


def run_once(i: int, run_dir: Path, argv: list[str], requirement: str | None, echo: Callable[[str], None]) -> RunResult:
    child = run_pytest(argv + ["--results-dir", str(run_dir), "--junitxml", str(run_dir / "junit.xml")], run_dir=run_dir, echo=echo)
    rc = child.exit_status
    outcomes = list(outcomes_of(run_dir).values())
    failed = [o for o in outcomes if o.outcome in ("failed", "error")]
    outcome = ("error" if any(o.outcome == "error" for o in failed) else "failed") if failed else (
        "passed" if any(o.outcome == "passed" for o in outcomes) or (rc == 0 and outcomes == []) else
        "skipped" if any(o.outcome == "skipped" for o in outcomes) else "error")
    frame = load_measurements(run_dir) if (run_dir / "measurements").exists() else None
    rows = [] if frame is None else frame.to_dict("records")
    if requirement is not None:
        rows = [r for r in rows if r["requirement"] == requirement]
    worst = max(rows, key=lambda r: (SEVERITY[r["verdict"]], r["time"])) if rows else None
    message = (worst["message"] if worst is not None and worst["verdict"] != "pass" else
               failed[0].message if failed else
               next((o.message for o in outcomes if o.outcome == "skipped"), "") or (worst["message"] if worst else ""))
    if worst is not None:
        verdict = worst["verdict"]
    else:
        verdict = "error" if outcome == "error" else "fail" if outcome == "failed" else "not-measured"
    nan = lambda v: None if v is None or v != v else float(v)  # noqa: E731 - NaN from the store means unknown
    return RunResult(run=i, run_dir=str(run_dir), outcome=outcome, verdict=verdict,
                     value=f"{worst['value']:.4g} {worst['units']}" if worst is not None else "-",
                     trace_time_s=nan(worst["trace_time_s"]) if worst is not None else None,
                     km=nan(worst["km"]) if worst is not None else None,
                     message=message[:500], symptom=verdict == "fail" or (outcome in ("failed", "error") and verdict != "invalid"),
                     stopped_by=child.stopped_by)


def repro(*, trace_path: Path, kind: str | None, at: str | None, km: float | None, check: str, window_s: float, runs: int,
          out_dir: Path, lab: Path | None, links: list[str], speed: float, echo: Callable[[str], None],
          on_run: Callable[[RunResult], None] | None = None) -> ReproReport:
    if runs < 1 or window_s <= 0:
        raise BenchError("--runs must be at least 1 and --window more than 0 s", where="skybench repro", fix="e.g. --runs 5 --window 120")
    select, requirement, own_replay = check_argv(check)  # a wrong check is reported before any import or lab
    trace, trace_file = load_field_trace(trace_path, kind, out_dir)
    t0, t1, point = window_around(trace, at=at, km=km, window_s=window_s)
    argv = [sys.executable, "-m", "pytest", *select, "-p", "no:cacheprovider", "-q", "-rA"]
    if own_replay:
        argv += ["--repro-trace", str(trace_file), "--repro-from", f"{t0:g}", "--repro-to", f"{t1:g}", "--repro-speed", f"{speed:g}"]
        argv += [f"--repro-map={pair}" for pair in links]
    else:
        argv += ["-p", "scenarios.repro.replay_always", "--trace-file", str(trace_file), "--from", f"{t0:g}", "--to", f"{t1:g}",
                 "--speed", f"{speed:g}"] + [f"--trace-map={pair}" for pair in links]
    if lab is not None:
        argv += ["--lab", str(lab)]
    report = ReproReport(trace=str(trace_file), check=check, requirement=requirement, window=(t0, t1), point=point)
    for i in range(1, runs + 1):
        result = run_once(i, out_dir / f"run-{i}", argv, requirement, echo)
        report.runs.append(result)
        if on_run is not None:
            on_run(result)
        if result.stopped_by is not None:  # stopping means no further runs
            break
    (out_dir / "repro.json").write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n")
    return report
