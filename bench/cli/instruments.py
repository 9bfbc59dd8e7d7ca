"""`skybench instruments`: the lab file's instruments, their identity (*IDN?) and state."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from bench.cli import app, console
from bench.instruments.status import STATUS_TIMEOUT_MS, instrument_status
from bench.instruments.visa import PY_BACKEND
from bench.lab.labfile import load_lab


def _backend(name: str) -> str:
    if name == "sim":  # the packaged pyvisa-sim definitions: try the command without instruments
        from bench.instruments.sim import SIM_BACKEND

        return SIM_BACKEND
    return name


@app.command()
def instruments(
    lab: Annotated[Optional[Path], typer.Option("--lab", help="lab file (default: the embedded lab)")] = None,
    backend: Annotated[str, typer.Option(
        "--backend", help="VISA backend: @py (pyvisa-py, default), sim (the packaged pyvisa-sim "
        "definitions) or FILE.yaml@sim")] = PY_BACKEND,
    timeout_ms: Annotated[int, typer.Option("--timeout-ms", min=100, help="per-query timeout")] = STATUS_TIMEOUT_MS,
) -> None:
    """List the lab's instruments with their identity (*IDN?) and state; queries only, changes nothing."""
    config = load_lab(lab)
    if not config.instruments:
        console.print(f"Lab {config.name!r} lists no instruments (add them under 'instruments:' in the lab "
                      "file; see docs/instruments.md).")
        return
    statuses = [instrument_status(i, backend=_backend(backend), timeout_ms=timeout_ms) for i in config.instruments]
    table = Table(title=f"skybench instruments: lab {config.name!r}")
    for column in ("name", "kind", "resource", "identity (*IDN?)", "state"):
        table.add_column(column)
    for s in statuses:
        state = escape(s.state or "") if s.reachable else "[bold red]unreachable[/] (below)"
        table.add_row(s.name, s.kind, escape(s.resource), escape(s.identity or "-"), state)
    console.print(table)
    down = [s for s in statuses if not s.reachable]
    for s in down:  # one line each, unwrapped: what failed and what to check
        console.print(f"[bold red]{s.name} unreachable:[/] {escape(s.problem or '')}", soft_wrap=True)
    if down:
        console.print(f"[bold red]{len(down)} of {len(statuses)} instrument(s) unreachable[/]: see 'how to fix' above.")
        raise typer.Exit(1)
