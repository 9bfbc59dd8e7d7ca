"""`skybench report ...`: reports people read (trends over runs, the HTML report, the certification report)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from bench.cli import app, console
from bench.measure.verdict import VERDICT_STYLE
from bench.lab.labfile import load_lab

report_app = typer.Typer(help="Reports: requirement trends, the HTML (Allure) report, the certification report.", no_args_is_help=True)
app.add_typer(report_app, name="report")



def _results_root(results: Path | None) -> Path:
    return results if results is not None else Path(load_lab(None).results_dir)


@report_app.command("trends")
def trends(
    results: Annotated[Optional[Path], typer.Option("--results", help="results root or one run's directory (default: the lab file's results_dir)")] = None,
    last: Annotated[int, typer.Option("--last", min=1, help="show the last N runs")] = 10,
    baseline: Annotated[Optional[str], typer.Option("--baseline", help="compare with this run (its id, or a unique part of it)")] = None,
    baseline_median: Annotated[int, typer.Option("--baseline-median", min=1, help="compare with the median of the K runs before the latest")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of the table")] = False,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="also draw the trends to this PNG")] = None,
) -> None:
    """Each requirement's value over the last runs; exit 1 when the latest run regressed."""
    from reports.trends import compute_trends, plot_trends, trends_json

    found = compute_trends(_results_root(results), last=last, baseline_run=baseline, baseline_median=baseline_median)
    if as_json:
        console.print_json(trends_json(found))
    else:
        runs = max((len(t.runs) for t in found), default=0)
        table = Table(title=f"requirements over the last {runs} run(s)")
        for column in ("requirement", "quantity", "limit", "values (oldest → latest), units", "baseline", "latest", "change", "regression"):
            table.add_column(column)
        for t in found:
            values = " ".join(f"[{VERDICT_STYLE.get(v or '', 'white')}]{x:.4g}[/]" for x, v in zip(t.values, t.verdicts) if x is not None)
            table.add_row(
                t.requirement, escape(t.title), escape(t.limit), f"{values} {escape(t.units)}",
                "-" if t.baseline is None else f"{t.baseline:.4g}", f"{t.latest:.4g}",
                "-" if t.change is None else f"{t.change:+.4g}",
                f"[bold red]{t.flag.upper()}[/]: {escape(t.reason)}" if t.flag else escape("; ".join(t.notes)) or "[green]no[/]",
            )
        console.print(table)
    if plot is not None:
        console.print(f"plot: {plot_trends(found, plot)}")
    flagged = [t for t in found if t.flag]
    if flagged:
        if not as_json:
            console.print(f"[bold red]{len(flagged)} regression(s):[/] " + ", ".join(f"{t.requirement} {t.quantity}" for t in flagged))
        raise typer.Exit(1)


@report_app.command("compare")
def compare(
    run_a: Annotated[Path, typer.Argument(help="one run's results directory (results/<run>)")],
    run_b: Annotated[Path, typer.Argument(help="the other run's")],
) -> None:
    """Two runs measurement by measurement: same verdict, values within the requirement's marginal
    band of each other; exit 1 when any differs (or is in one run only)."""
    from reports.compare import compare_runs

    pairs = compare_runs(run_a.resolve(), run_b.resolve())
    table = Table(title=f"{run_a.name} (A) vs {run_b.name} (B)")
    for column in ("test", "requirement", "quantity", "A", "B", "B - A", "band", "agrees"):
        table.add_column(column)
    for p in pairs:
        cell = lambda v, verdict: "-" if v is None else f"[{VERDICT_STYLE.get(verdict or '', 'white')}]{v:.4g}[/] {verdict}"  # noqa: E731
        table.add_row(escape(p.test), p.requirement, p.quantity + ("" if p.index == 0 else f" #{p.index + 1}"),
                      cell(p.a_value, p.a_verdict), cell(p.b_value, p.b_verdict),
                      "-" if p.difference is None else f"{p.difference:+.4g} {escape(p.units)}", f"{p.band:.4g}",
                      "[green]yes[/]" if p.agrees else "[bold red]NO[/]")
    console.print(table)
    differ = [p for p in pairs if not p.agrees]
    console.print(f"{len(pairs) - len(differ)} of {len(pairs)} measurements agree (same verdict, within the marginal band)")
    if differ:
        raise typer.Exit(1)


@report_app.command("html")
def html(
    run_dir: Annotated[Optional[Path], typer.Argument(help="a run's directory (default: the latest run under --results)")] = None,
    results: Annotated[Optional[Path], typer.Option("--results", help="results root (default: the lab file's results_dir)")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="report directory (default: RUN_DIR/allure-report)")] = None,
    no_history: Annotated[bool, typer.Option("--no-history", help="do not use or extend the results root's Allure history")] = False,
) -> None:
    """Build the run's HTML report with Allure Report 3 (history kept in the results root)."""
    from reports.html import ALLURE_HOME, build_html, latest_run

    # Resolved here: Allure runs in a directory of its own, where a relative path means nothing.
    run_dir = (run_dir or latest_run(_results_root(results))).resolve()
    with console.status(f"building the report of {run_dir.name} (Allure Report 3)"):
        report = build_html(run_dir, output=output.resolve() if output else None, history=not no_history)
    console.print(f"report: {report / 'index.html'}  (views: awesome/, dashboard/, classic/)")
    console.print(f"open it with: npx --prefix {ALLURE_HOME} allure open {report}  (or serve the directory over HTTP)")


@report_app.command("certification")
def certification(
    record: Annotated[Path, typer.Argument(help="the certification record (JSON, see docs/reports.md)")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="HTML file (default: next to the record, .html)")] = None,
) -> None:
    """Render a certification record as one self-contained HTML document."""
    from bench.certification.model import load_record
    from reports.certification import render_certification

    cert = load_record(record)
    output = output or record.with_suffix(".html")
    render_certification(cert, output, base_dir=record.parent)
    console.print(f"certification report: {output}  ({cert.overall_verdict()}: {len(cert.requirements)} requirements)")
