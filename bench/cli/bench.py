"""`skybench bench link`: the link emulator benchmark (bench.link.benchmark), as a table or JSON."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from bench.cli import app, console, err_console

bench_app = typer.Typer(help="Benchmarks that print figures (throughput, accuracy, latency).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def _rows(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, inner in value.items():
            rows += _rows(f"{prefix}.{key}" if prefix else str(key), inner)
        return rows
    return [(prefix, f"{value:.2f}" if isinstance(value, float) else str(value))]


def _section_table(title: str, figures: Any) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in _rows("", figures):
        table.add_row(name, value)
    return table


@bench_app.command("link")
def link(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (for scripts) instead of tables")] = False,
    seconds: Annotated[float, typer.Option("--seconds", help="length of each throughput run")] = 4.0,
    netem_vm: Annotated[bool, typer.Option("--netem-vm", help="add netem measured inside the qemu VM (TCG; a few minutes)")] = False,
) -> None:
    """Kernel bridge, userspace backend (and netem where available) side by side, one run."""
    from bench.link.benchmark import run_link_benchmark

    with err_console.status("link benchmark: starting") as status:
        def progress(message: str) -> None:
            status.update(f"link benchmark: {message}")
            err_console.print(f"[dim]... {message}[/]")

        result = run_link_benchmark(seconds=seconds, netem_vm=netem_vm, progress=progress)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=1) + "\n")
        return
    for section, figures in result.items():
        console.print(_section_table(section, figures))
    if "netem_vm" in result:
        console.print("netem_vm: measured under TCG in the qemu VM; compare ratios to its own kernel bridge, not absolute figures.")
