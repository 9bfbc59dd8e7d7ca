"""`skybench run SUITE`: run a suite with pytest, then print what ran, what passed and what is missing."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from bench.cli import app, console
from bench.errors import BenchError
from bench.lab.labfile import load_lab
from bench.outcomes import OUTCOMES_FILE, outcomes_of
from bench.pytestrun import run_pytest
from reports.progress import LiveStatus
from reports.summary import measurements_table
from scenarios import SUITES, Suite

OUTCOME_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow", "error": "bold red"}


def new_run_dir(results_root: Path, suite: str) -> Path:
    run_dir = results_root / f"{time.strftime('%Y%m%d-%H%M%S')}-{suite}"
    run_dir.mkdir(parents=True, exist_ok=False)
    return run_dir


@app.command()
def run(
    suite: Annotated[str, typer.Argument(help=f"suite to run: {', '.join(SUITES)}")] = "nightly",
    lab: Annotated[Optional[Path], typer.Option("--lab", help="lab file (default: the embedded lab)")] = None,
    results: Annotated[Optional[Path], typer.Option("--results", help="results root (default: the lab file's results_dir)")] = None,
    trace: Annotated[Optional[Path], typer.Option("--trace", help="trace to replay in tests that use the replay fixture")] = None,
    speed: Annotated[Optional[float], typer.Option("--speed", help="replay time compression (60: an hour in a minute)")] = None,
    window_from: Annotated[Optional[str], typer.Option("--from", help="replay window start: seconds or HH:MM:SS")] = None,
    window_to: Annotated[Optional[str], typer.Option("--to", help="replay window end: seconds or HH:MM:SS")] = None,
    km: Annotated[Optional[str], typer.Option("--km", help="replay window by position, e.g. 400-520")] = None,
    pytest_args: Annotated[Optional[list[str]], typer.Argument(help="extra pytest arguments, after --")] = None,
) -> None:
    """Run a suite on the lab and write its results (outcomes, steps, Allure, JUnit)."""
    if suite not in SUITES:
        raise BenchError(f"unknown suite {suite!r}", fix=f"choose one of: {', '.join(SUITES)}")
    the_suite = SUITES[suite]
    config = load_lab(lab)  # validated here so a bad lab file fails before pytest starts
    run_dir = new_run_dir(results or Path(config.results_dir), suite)
    _print_coverage(the_suite)
    argv = [
        sys.executable, "-m", "pytest", str(the_suite.path),
        "-m", the_suite.marker,
        "--results-dir", str(run_dir),
        "--alluredir", str(run_dir / "allure-results"),
        "--junitxml", str(run_dir / "junit.xml"),
        "-p", "no:cacheprovider",
        "-q",
    ]
    if lab is not None:
        argv += ["--lab", str(lab)]
    # The replay options are the replay fixture's own (fixtures/replay.py), passed through.
    for option, value in (("--trace-file", trace), ("--speed", speed), ("--from", window_from), ("--to", window_to), ("--km", km)):
        if value is not None:
            argv += [option, str(value)]
    argv += pytest_args or []
    console.print(f"running suite [bold]{suite}[/] on lab [bold]{config.name}[/]; results in {run_dir}")
    with LiveStatus(run_dir, console) as status:  # the status line (progress, trace clock) stays under the output
        child = run_pytest(argv, run_dir=run_dir, echo=status.print)
    _print_outcomes(run_dir)
    measured = measurements_table(run_dir)
    if measured is not None:
        console.print(measured)
    console.print(f"results: {run_dir}  (outcomes.jsonl, steps.jsonl, junit.xml, allure-results/, pytest.log)")
    console.print(f"report: skybench report html {run_dir}   trends: skybench report trends --results {run_dir.parent}")
    if child.interrupted:
        console.print(f"[bold red]interrupted[/]{f' by {signal.Signals(child.stopped_by).name}' if child.stopped_by else ''}: "
                      f"{_ran(run_dir)}; what was measured is kept in {run_dir}")
    if child.bench_status() != 0:
        raise typer.Exit(child.bench_status())


def _ran(run_dir: Path) -> str:
    """'12 of 25 tests ran' (whatever the run got to write)."""
    outcomes = outcomes_of(run_dir).values()
    ran = sum(o.outcome != "not run" for o in outcomes)
    return f"{ran} of {len(outcomes)} tests ran"


def _print_coverage(suite: Suite) -> None:
    table = Table(title=f"suite {suite.name}: what it covers in this version")
    table.add_column("area")
    table.add_column("status")
    for area in suite.areas:
        present = area.present(suite.path)
        table.add_row(area.title, "[green]runs[/]" if present else f"[yellow]not built yet (issue {area.issue})[/]")
    console.print(table)


def _print_outcomes(run_dir: Path) -> None:
    """Summarise outcomes.jsonl (written as tests finish, so this works for a partial run too)."""
    path = run_dir / OUTCOMES_FILE
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    table = Table(title="results")
    table.add_column("test")
    table.add_column("outcome")
    table.add_column("s", justify="right")
    table.add_column("message")
    for r in records:
        outcome = "error" if r["outcome"] == "failed" and r["when"] != "call" else r["outcome"]
        table.add_row(escape(r["test"].split("::", 1)[-1]), f"[{OUTCOME_STYLE[outcome]}]{outcome}[/]", f"{r['duration_s']:.1f}", escape(r["message"][:160]))
    console.print(table)
    counts: dict[str, int] = {}
    for r in records:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    console.print("  ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no test ran")
