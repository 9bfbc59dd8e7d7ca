"""`skybench doctor`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from bench.cli import app, console
from bench.doctor import run_checks
from bench.lab.labfile import load_lab

STYLE = {"ok": "green", "info": "cyan", "warn": "yellow", "fail": "bold red"}


@app.command()
def doctor(
    lab: Annotated[Optional[Path], typer.Option("--lab", help="lab file (default: the embedded lab)")] = None,
) -> None:
    """Check this host: privileges, namespaces, netem or not (which link backend runs), tools."""
    config = load_lab(lab)
    checks = run_checks(config)
    table = Table(title=f"skybench doctor: lab {config.name!r}", show_lines=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("finding")
    table.add_column("how to fix")
    for c in checks:
        table.add_row(c.name, f"[{STYLE[c.status]}]{c.status}[/]", c.detail, c.fix)
    console.print(table)
    failed = [c for c in checks if c.status == "fail"]
    if failed:
        console.print(f"[bold red]{len(failed)} check(s) failed:[/] the bench cannot run until they are fixed.")
        raise typer.Exit(1)
    console.print("[green]This host can run the bench.[/]")
