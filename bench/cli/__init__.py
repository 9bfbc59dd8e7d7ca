"""The `skybench` command: thin over the library, one sub-module per command group."""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console

from bench.errors import BenchError

app = typer.Typer(
    name="skybench",
    help="Hardware-in-the-loop test bench for satellite Wi-Fi on passenger trains.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
LOG_WIDTH = 240  # a log file or a pipe has no width; tables are drawn this wide so each row stays on one line


def _console(*, stderr: bool = False) -> Console:
    """At a terminal, rich's own width; otherwise (CI, a pipe, a file) lines that are never broken
    at 80 columns, whatever COLUMNS says."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=LOG_WIDTH, soft_wrap=True)


console = _console()
err_console = _console(stderr=True)


def _show_version(value: bool) -> None:
    if value:
        from bench import __version__

        console.print(f"skybench {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True, help="print the version and exit"),
) -> None:
    """Hardware-in-the-loop test bench for satellite Wi-Fi on passenger trains."""


def _register() -> None:
    # Imported here so that each module can import `app`/`console` from this one.
    from bench.cli import bench, doctor, instruments, lab, link, load, report, run, trace  # noqa: F401
    from bench.cli import certify, repro  # noqa: F401


def main() -> None:
    """Entry point: every BenchError becomes one readable message and exit status 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register()
    try:
        rc = app(standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else 0)
    except BenchError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click's usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
