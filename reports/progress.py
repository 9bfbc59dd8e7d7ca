"""What `skybench run` shows while a suite runs: one live status line under pytest's output.

It reads the run's ``live.json`` (reports/live.py) at each refresh: the suite's progress (tests
done / total, failures, the current test), the trace clock of a replay (trace time, km, speed) and
the passengers' figures, whichever are running. Nothing here talks to pytest: the file is the
interface, so the line also works for a run started by someone else (``skybench run`` only).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from bench.measure.measurement import clock_text
from reports.live import LiveState, read_live


def status_renderable(state: LiveState | None, *, started: float, now: float | None = None) -> RenderableType:
    """The status line(s) for a live state (None: the run has not reported yet)."""
    elapsed = clock_text((now or time.time()) - started)
    if state is None or state.progress is None:
        return Text(f"starting pytest ... {elapsed}", style="dim")
    p = state.progress
    grid = Table.grid(padding=(0, 1))
    counts = f"{p.done}/{p.total} tests" + (f", {p.failed} failed" if p.failed else "") + f"  {elapsed}"
    grid.add_column(no_wrap=True, min_width=len(counts))  # never squeezed: the current test's name gives way
    grid.add_column(width=20)
    grid.add_column(no_wrap=True, overflow="ellipsis")
    failed = f", [bold red]{p.failed} failed[/]" if p.failed else ""
    current = p.current.split("::", 1)[-1] if p.current else ""
    grid.add_row(Text.from_markup(f"[bold]{p.done}/{p.total}[/] tests{failed}  {elapsed}"),
                 ProgressBar(total=max(p.total, 1), completed=p.done, width=20), Text(current, style="cyan"))
    lines: list[RenderableType] = [grid]
    if state.replay is not None:
        r = state.replay
        parts = [f"trace {r.trace} {clock_text(r.clock_s)}"]
        if r.km is not None:
            parts.append(f"km {r.km:.1f}")
        if r.speed:
            parts.append(f"{r.speed:g}x")
        if r.window_s:
            parts.append(f"window {clock_text(r.window_s[0])}-{clock_text(r.window_s[1])}")
        lines.append(Text("  replay: " + ", ".join(parts), style="magenta"))
    if state.passengers is not None:
        q = state.passengers
        parts = [f"{q.users} passengers"]
        if q.rps is not None:
            parts.append(f"{q.rps:.0f} req/s")
        parts.append(f"{q.failures} failures")
        parts += [f"{name} p95 {ms:.0f} ms" for name, ms in sorted(q.p95_ms.items())]
        lines.append(Text("  load: " + ", ".join(parts), style="blue"))
    return Group(*lines)


class LiveStatus:
    """A rich Live region showing the run's status; print pytest's lines through ``print``."""

    def __init__(self, run_dir: Path, console: Console, *, refresh_per_second: float = 2.0) -> None:
        self.run_dir = run_dir
        self.console = console
        self.started = time.time()
        self._live = Live(get_renderable=self._render, console=console, refresh_per_second=refresh_per_second,
                          transient=True, redirect_stdout=False, redirect_stderr=False)

    def _render(self) -> RenderableType:
        return status_renderable(read_live(self.run_dir), started=self.started)

    def print(self, line: str) -> None:
        self._live.console.print(line, markup=False, highlight=False)

    def __enter__(self) -> LiveStatus:
        self._live.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._live.stop()
