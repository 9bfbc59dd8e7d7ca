"""`skybench lab up|status|down|clean`."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from bench.cli import app, console
from bench.errors import BenchError
from bench.lab.lab import Lab, lab_status
from bench.lab.labfile import load_lab
from bench.lab.state import STATE_DIR, clean_stale, ledgers, new_prefix

lab_app = typer.Typer(help="Build, inspect and remove embedded labs.", no_args_is_help=True)
app.add_typer(lab_app, name="lab")

LabOption = Annotated[Optional[Path], typer.Option("--lab", help="lab file (default: the embedded lab)")]


def _print_status(status: dict[str, Any]) -> None:
    meta = status.get("meta", {})
    alive = "running" if status["alive"] else "owner gone (run `skybench lab clean`)"
    table = Table(title=f"lab {status['prefix']} ({meta.get('name', '?')}, {alive}, owner pid {status['owner_pid']})")
    table.add_column("role")
    table.add_column("namespace")
    table.add_column("interfaces (addresses)")
    for role, info in status["namespaces"].items():
        ifaces = []
        for i in info["interfaces"]:
            addresses = [a for a in i["addresses"] if not a.startswith("127.")]
            if i["name"] == "lo" and not addresses:
                continue  # every namespace has a loopback; show it only when it serves lab addresses
            ifaces.append(i["name"] + (f" {' '.join(addresses)}" if addresses else "") + (f" [{i['kind']}]" if i["kind"] else ""))
        table.add_row(role, info["namespace"], "\n".join(ifaces))
    console.print(table)
    for wan, backend in meta.get("links", {}).items():
        console.print(f"  sky link {wan}: {backend} backend")
    for proc in status["processes"]:
        console.print(f"  process {proc['pid']} {proc['name']} in {proc['role']}")


@lab_app.command("up")
def up(
    lab: LabOption = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="keep the lab up in the background; `skybench lab down` removes it")] = False,
) -> None:
    """Build the embedded lab and keep it up until Ctrl-C (or `lab down` with --detach)."""
    config = load_lab(lab)
    prefix = new_prefix()
    if detach:
        _up_detached(config, prefix)
        return
    with Lab(config, prefix=prefix) as the_lab:
        _print_status(the_lab.status())
        console.print(f"[green]lab {prefix} is up.[/] Ctrl-C tears it down.")
        try:
            while True:
                signal.pause()
        except KeyboardInterrupt:
            console.print("tearing down...")
    console.print(f"[green]lab {prefix} removed.[/]")


def _up_detached(config: Any, prefix: str) -> None:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the keeper: owns the lab until SIGTERM
        os.close(read_fd)
        os.setsid()
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        logfile = os.open(STATE_DIR / f"{prefix}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(logfile, 1)
        os.dup2(logfile, 2)
        report = os.fdopen(write_fd, "w")
        try:
            with Lab(config, prefix=prefix):
                report.write("ok\n")
                report.close()
                while True:
                    signal.pause()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, then the keeper exits
            if not report.closed:
                report.write((exc.message if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}") + "\n")
                report.close()
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as r:
        answer = r.read().strip()
    if answer != "ok":
        raise BenchError(f"the lab did not come up: {answer or 'the keeper process died'}", fix="run `skybench doctor`")
    led = next(led for led in ledgers() if led.prefix == prefix)
    _print_status(lab_status(led))
    console.print(f"[green]lab {prefix} is up[/] (keeper pid {pid}). Remove it with `skybench lab down {prefix}`.")


@lab_app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Labs on this host: namespaces, interfaces and addresses."""
    statuses = [lab_status(led) for led in ledgers()]
    if as_json:
        sys.stdout.write(json.dumps({"labs": statuses}, indent=2) + "\n")
        return
    if not statuses:
        console.print("no lab is up on this host.")
    for st in statuses:
        _print_status(st)


@lab_app.command("down")
def down(
    prefix: Annotated[Optional[str], typer.Argument(help="the lab's prefix (default: every lab on this host)")] = None,
    timeout_s: Annotated[float, typer.Option("--timeout", help="seconds to wait for each lab's removal")] = 30.0,
) -> None:
    """Remove running labs: ask their owner to tear down; remove directly when the owner is gone."""
    targets = [led for led in ledgers() if prefix is None or led.prefix == prefix]
    if prefix is not None and not targets:
        raise BenchError(f"no lab with prefix {prefix!r} on this host", fix="`skybench lab status` lists the labs")
    for led in targets:
        if led.owner_alive():
            os.kill(led.owner_pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while led.path.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            if led.path.exists():
                raise BenchError(f"lab {led.prefix}: its owner (pid {led.owner_pid}) did not tear it down in {timeout_s:.0f} s", fix="`skybench lab clean --all` removes it by force")
            console.print(f"lab {led.prefix} removed by its owner (pid {led.owner_pid})")
        else:
            removed = led.teardown()
            console.print(f"lab {led.prefix} removed: {len(removed)} object(s)")
    if not targets:
        console.print("no lab is up on this host.")


@lab_app.command("clean")
def clean(
    everything: Annotated[bool, typer.Option("--all", help="also remove labs whose owner still runs")] = False,
) -> None:
    """Remove what crashed or killed runs left behind (namespaces, links, processes)."""
    report = clean_stale(include_live=everything, sweep_unclaimed=True)
    for item in report.removed:
        console.print(f"removed {item}")
    if report.skipped_live:
        console.print(f"left running labs alone: {', '.join(report.skipped_live)} (use --all to remove them too)")
    if not report.removed:
        console.print("[green]nothing to clean.[/]")
    else:
        console.print(f"[green]clean:[/] {len(report.removed)} object(s) from {len(report.labs)} lab(s) removed.")
