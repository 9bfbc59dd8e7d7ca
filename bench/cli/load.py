"""`skybench bench load`: passengers per core through the embedded lab vs loopback (loadgen.benchmark)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from bench.cli import console, err_console
from bench.cli.bench import bench_app

ROWS = (("users", "users (asked)"), ("peak_users", "users running at once"), ("requests_per_s", "requests/s (steady window)"),
        ("failures_per_s", "failures/s"), ("generator_cpu_share", "generator CPU (share of one core)"),
        ("passengers_per_core", "passengers per core"), ("window_s", "steady window (s)"))


@bench_app.command("load")
def load(
    users: Annotated[int, typer.Option("--users", help="concurrent passengers")] = 1000,
    run_time: Annotated[float, typer.Option("--run-time", help="seconds of each run (ramp included)")] = 60.0,
    spawn_rate: Annotated[float, typer.Option("--spawn-rate", help="passengers started per second")] = 100.0,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (for scripts) instead of a table")] = False,
) -> None:
    """Generate `users` passengers through the embedded lab, then the same load against loopback."""
    from loadgen.benchmark import run_load_benchmark

    with err_console.status("load benchmark: starting") as status:
        def progress(message: str) -> None:
            status.update(f"load benchmark: {message}")
            err_console.print(f"[dim]... {message}[/]")

        result = run_load_benchmark(users=users, run_time_s=run_time, spawn_rate=spawn_rate, progress=progress)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=1) + "\n")
        return
    table = Table(title=f"load benchmark ({result['profile']} profile, {result['cores']} cores)", title_justify="left")
    table.add_column("figure")
    table.add_column("embedded lab", justify="right")
    table.add_column("loopback", justify="right")
    table.add_column("lab / loopback", justify="right")
    for key, title in ROWS:
        ratio = result["lab_vs_loopback"].get(key)
        table.add_row(title, str(result["lab"][key]), str(result["loopback"][key]), "" if ratio is None else f"{ratio:.2f}")
    console.print(table)
    console.print(f"lab setup (leases, routes, portal check): {result['lab_setup_s']} s")
    for side in ("lab", "loopback"):
        if result[side]["failures_by_class"]:
            console.print(f"{side} failures by class: {result[side]['failures_by_class']}; first errors: {result[side]['first_errors']}")
