"""`skybench repro TRACE --at TIME|--km KM --check CHECK`: replay a field recording's window N times
against the DUT and count how often the symptom appears (bench/repro.py)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from bench.cli import app, console
from bench.measure.verdict import VERDICT_STYLE
from bench.signals import exit_status



@app.command("repro")
def repro_command(
    trace: Annotated[Path, typer.Argument(help="the field trace: a skybench trace, or a recording with --kind")],
    check: Annotated[str, typer.Option("--check", help="a requirement id (FO-1, THR-1) or a pytest node id")],
    at: Annotated[Optional[str], typer.Option("--at", help="the point: trace time, seconds or HH:MM:SS")] = None,
    km: Annotated[Optional[float], typer.Option("--km", help="the point: first passage at this km")] = None,
    window: Annotated[float, typer.Option("--window", help="seconds of trace around the point")] = 120.0,
    runs: Annotated[int, typer.Option("--runs", help="how many times to replay the window")] = 5,
    kind: Annotated[Optional[str], typer.Option("--kind", help="import the recording first: starlink-dish, ping, iperf3-json, throughput-csv, mahimahi")] = None,
    map_: Annotated[Optional[list[str]], typer.Option("--map", help="trace link to lab WAN, LINK=WAN (or =none); repeatable")] = None,
    speed: Annotated[float, typer.Option("--speed", help="replay speed (1: real time, as timing checks need)")] = 1.0,
    lab: Annotated[Optional[Path], typer.Option("--lab", help="lab file (default: the embedded lab)")] = None,
    results: Annotated[Optional[Path], typer.Option("--results", help="results root (default: the lab file's results_dir)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="do not echo pytest's output")] = False,
) -> None:
    """Replay the window around a point of a field trace N times and report how often the check fails."""
    from bench.lab.labfile import load_lab
    from bench.repro import repro

    from bench.traces.replay import parse_link_map

    config = load_lab(lab)
    parse_link_map(list(map_ or []))  # a malformed pair is refused before any run starts
    out_dir = (results or Path(config.results_dir)) / f"repro-{time.strftime('%Y%m%d-%H%M%S')}"
    echo = (lambda line: None) if quiet else (lambda line: console.print(escape(line), highlight=False))
    report = repro(trace_path=trace, kind=kind, at=at, km=km, check=check, window_s=window, runs=runs, out_dir=out_dir,
                   lab=lab, links=list(map_ or []), speed=speed, echo=echo,
                   on_run=lambda r: console.print(f"run {r.run}: [{VERDICT_STYLE.get(r.verdict, 'white')}]{r.verdict}[/] {escape(r.value)}"))
    from bench.traces.replay import fmt_trace_time

    t0, t1 = report.window
    table = Table(title=f"repro {escape(check)} on {escape(report.trace)} {fmt_trace_time(t0)}-{fmt_trace_time(t1)} "
                        f"(point {fmt_trace_time(report.point)})")
    for column in ("run", "verdict", "value", "trace time", "km", "evidence", "finding"):
        table.add_column(column)
    for r in report.runs:
        table.add_row(str(r.run), f"[{VERDICT_STYLE.get(r.verdict, 'white')}]{r.verdict}[/]", escape(r.value),
                      fmt_trace_time(r.trace_time_s) if r.trace_time_s is not None else "-",
                      f"{r.km:.2f}" if r.km is not None else "-", escape(r.run_dir), escape(r.message[:160]))
    console.print(table)
    console.print(f"symptom seen in [bold]{report.seen} of {len(report.runs)}[/] runs; summary {out_dir / 'repro.json'}")
    if report.stopped_by is not None:
        console.print(f"[bold red]interrupted[/] by {signal.Signals(report.stopped_by).name} during run {len(report.runs)} of {runs}")
        raise typer.Exit(exit_status(report.stopped_by))
